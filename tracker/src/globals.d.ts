// Compile-time feature switches, set by esbuild's `define` (see build.mjs). A feature
// whose constant is `false` is left out of the bundle entirely.
declare const __OUTBOUND__: boolean;
declare const __DOWNLOADS__: boolean;
declare const __CTA__: boolean;
declare const __FORMS__: boolean;
declare const __VIDEO__: boolean;
declare const __SEARCH__: boolean;
declare const __SHARE__: boolean;
