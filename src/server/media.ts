/**
 * What POST /api/tasks accepts, by media type. A browser can send `text/plain` and form types
 * cross-origin without a preflight, so those are refused (415) rather than guessed at; JSON
 * only as `application/json` itself, so `text/plain; x=json` never reaches the JSON path.
 */
export type SpecMedia = { kind: "markdown" | "json" } | { kind: "refused"; error: string };

export function specMedia(contentType: string | null | undefined): SpecMedia {
  const [essence = "", ...params] = (contentType ?? "").split(";").map((s) => s.trim().toLowerCase());
  const refused = (why: string): SpecMedia => ({
    kind: "refused",
    error: `${why}; send spec text as Content-Type: text/markdown, or a batch as application/json`,
  });
  if (!essence) return refused("no Content-Type");
  const kind = essence === "text/markdown" ? "markdown" : essence === "application/json" ? "json" : null;
  if (!kind) return refused(`Content-Type ${essence} is not accepted`);
  for (const p of params) {
    const [name, value = ""] = p.split("=").map((s) => s.trim());
    // Specs are read as UTF-8; another charset would be misread, so say so instead.
    if (name === "charset" && value.replace(/"/g, "") !== "utf-8")
      return refused(`charset ${value} is not accepted (UTF-8 only)`);
  }
  return { kind };
}
