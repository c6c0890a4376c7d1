// The list the feature chunks register in (src/api.ts `feature`) and the core starts
// them from (src/cairn.ts): a parameter of the function that wraps the assembled script
// (build.mjs `assemble`, the same in crates/server/src/tracker.rs), not a global.
declare const cairnF: import("./api").Init[];
