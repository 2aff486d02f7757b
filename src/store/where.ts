/**
 * The WHERE clause of a listing with optional filters: each condition whose value is given
 * (not undefined, empty or 0, as the listings' options have always read) with its `?` value.
 */
export function whereGiven(conditions: [sql: string, value: string | number | undefined][]): {
  sql: string;
  params: (string | number)[];
} {
  const given = conditions.filter((c): c is [string, string | number] => Boolean(c[1]));
  return {
    sql: given.length ? `WHERE ${given.map(([c]) => c).join(" AND ")}` : "",
    params: given.map(([, v]) => v),
  };
}
