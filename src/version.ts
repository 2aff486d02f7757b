/**
 * Version and commit are replaced at build time by scripts/build-binary.ts (`--define`).
 * Running from source they fall back to package.json's version and "dev".
 */
declare const OYSTER_VERSION: string | undefined;
declare const OYSTER_COMMIT: string | undefined;

export const VERSION: string = typeof OYSTER_VERSION === "string" ? OYSTER_VERSION : "0.1.0-dev";
export const COMMIT: string = typeof OYSTER_COMMIT === "string" ? OYSTER_COMMIT : "dev";

/** What `oyster --version` prints and what nodes compare against. */
export const VERSION_STRING = `oyster ${VERSION} (${COMMIT})`;
