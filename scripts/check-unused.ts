#!/usr/bin/env bun
/**
 * `npm test` fails on an export of src/ that nothing uses: no file imports it (src, test, bench,
 * scripts) and its own file does not use it either, i.e. dead code.
 *   bun scripts/check-unused.ts
 *
 * Written over TypeScript's parser (a dev dependency already) rather than adding knip: it reads
 * syntax only, so it runs in about a second, and the rules it applies fit on this page.
 * - named, default and `export … from` imports use the names they list;
 * - `import * as ns` uses the `ns.name`s the file reads, as values or as types (all of them if
 *   `ns` itself escapes);
 * - `import("./x.ts")` and `typeof import("./x.ts")` use every export of x whose name appears
 *   in the importing file (the lazy subcommands read `m.default`, the supervisor `remote.x`);
 * - `export * from` uses everything.
 * - a use in the declaring file counts (knip's ignoreExportsUsedInFile): a type named in an
 *   exported signature is a seam, not dead code.
 * An export that must stay for a reason this cannot see goes in KEEP with that reason.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { Glob } from "bun";
import ts from "typescript";

/** Exports kept on purpose although no file imports them: name → why. */
const KEEP: Record<string, string> = {};

interface FileFacts {
  exports: Map<string, number>;
  /** target file → names used (or "*" for all). */
  uses: Map<string, Set<string>>;
}

function resolve(from: string, spec: string): string | undefined {
  if (!spec.startsWith(".")) return undefined;
  const p = path.normalize(path.join(path.dirname(from), spec));
  return existsSync(p) ? p : undefined;
}

function isExported(node: ts.Node): boolean {
  return (
    ts.canHaveModifiers(node) &&
    (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
  );
}

function isDefault(node: ts.Node): boolean {
  return (
    ts.canHaveModifiers(node) &&
    (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.DefaultKeyword)
  );
}

export function factsOf(file: string, text: string): FileFacts {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ESNext, true, ts.ScriptKind.TS);
  const exports = new Map<string, number>();
  const uses = new Map<string, Set<string>>();
  const use = (target: string | undefined, name: string) => {
    if (!target) return;
    const set = uses.get(target) ?? new Set<string>();
    set.add(name);
    uses.set(target, set);
  };
  const lineOf = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const identifiers = new Set<string>();
  const counts = new Map<string, number>();
  const namespaces = new Map<string, string>();
  const dynamic: string[] = [];

  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node)) {
      identifiers.add(node.text);
      counts.set(node.text, (counts.get(node.text) ?? 0) + 1);
    }
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const target = resolve(file, node.moduleSpecifier.text);
      const clause = node.importClause;
      if (clause?.name) use(target, "default");
      const bindings = clause?.namedBindings;
      if (bindings && ts.isNamedImports(bindings)) {
        for (const el of bindings.elements) use(target, (el.propertyName ?? el.name).text);
      } else if (bindings && ts.isNamespaceImport(bindings) && target) {
        namespaces.set(bindings.name.text, target);
      }
    } else if (ts.isExportDeclaration(node)) {
      const target =
        node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)
          ? resolve(file, node.moduleSpecifier.text)
          : undefined;
      if (node.exportClause && ts.isNamedExports(node.exportClause)) {
        for (const el of node.exportClause.elements) {
          if (target) use(target, (el.propertyName ?? el.name).text);
          exports.set(el.name.text, lineOf(el));
        }
      } else if (target) {
        use(target, "*");
      }
    } else if (ts.isExportAssignment(node)) {
      exports.set("default", lineOf(node));
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      const target = resolve(file, node.arguments[0].text);
      if (target) dynamic.push(target);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      const target = resolve(file, node.argument.literal.text);
      if (target) dynamic.push(target);
    } else if (isExported(node) && node.parent === sf) {
      if (isDefault(node)) exports.set("default", lineOf(node));
      else if (ts.isVariableStatement(node)) {
        for (const d of node.declarationList.declarations) {
          if (ts.isIdentifier(d.name)) exports.set(d.name.text, lineOf(d));
        }
      } else {
        const name = (node as ts.DeclarationStatement).name;
        if (name && ts.isIdentifier(name)) exports.set(name.text, lineOf(node));
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);

  // Namespace imports: `ns.name` (a value) or `ns.Name` (a type) uses that name; `ns` anywhere
  // else (passed whole) uses everything.
  if (namespaces.size > 0) {
    const walk = (node: ts.Node): void => {
      const [left, right] = ts.isPropertyAccessExpression(node)
        ? [node.expression, node.name]
        : ts.isQualifiedName(node)
          ? [node.left, node.right]
          : [];
      if (left && right && ts.isIdentifier(left)) {
        const target = namespaces.get(left.text);
        if (target) {
          use(target, right.text);
          return;
        }
      }
      if (ts.isIdentifier(node) && namespaces.has(node.text) && !ts.isNamespaceImport(node.parent)) {
        use(namespaces.get(node.text), "*");
      }
      ts.forEachChild(node, walk);
    };
    walk(sf);
  }
  for (const target of dynamic) {
    for (const name of identifiers) use(target, name);
    use(target, "default");
  }
  // Used in its own file besides its declaration: a seam kept public, not dead code (knip's
  // ignoreExportsUsedInFile); dropping every such `export` would churn files for no gain.
  for (const name of exports.keys()) if ((counts.get(name) ?? 0) > 1) use(file, name);
  return { exports, uses };
}

/** Every `file:line name` exported from src/ that nothing uses. */
export function findUnused(facts: Map<string, FileFacts>, keep: Record<string, string> = KEEP): string[] {
  const used = new Map<string, Set<string>>();
  for (const f of facts.values()) {
    for (const [target, names] of f.uses) {
      const set = used.get(target) ?? new Set<string>();
      for (const n of names) set.add(n);
      used.set(target, set);
    }
  }
  const unused: string[] = [];
  for (const [file, f] of facts) {
    if (!file.startsWith("src/")) continue;
    const u = used.get(file);
    for (const [name, line] of f.exports) {
      if (u?.has("*") || u?.has(name) || name in keep) continue;
      unused.push(`${file}:${line} ${name}`);
    }
  }
  return unused.sort();
}

if (import.meta.main) {
  const facts = new Map<string, FileFacts>();
  for (const root of ["src", "test", "bench", "scripts"]) {
    for (const file of new Glob(`${root}/**/*.ts`).scanSync(".")) {
      facts.set(file, factsOf(file, readFileSync(file, "utf8")));
    }
  }
  const unused = findUnused(facts);
  for (const u of unused) console.error(`unused export: ${u}`);
  if (unused.length > 0) {
    console.error(
      `check-unused: ${unused.length} export(s) nothing uses; delete them, or add them to KEEP ` +
        "in scripts/check-unused.ts with the reason",
    );
    process.exit(1);
  }
  console.error(`check-unused: ${facts.size} files, every export of src/ is used`);
}
