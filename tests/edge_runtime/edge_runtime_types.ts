// Stands for `jsr:@supabase/functions-js/edge-runtime.d.ts` (tests/edge_runtime/import_map.json):
// that import only declares the runtime's types, so at run time it is a module with nothing in it.
export {}
