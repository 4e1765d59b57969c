// supabase-js as an app calls a function: createClient(projectUrl, key).functions.invoke(name, {body}).
// node invoke.cjs <project URL> <key> <name>  -> {data, status} as JSON on stdout.
const { createClient } = require('@supabase/supabase-js')
const [url, key, name] = process.argv.slice(2)
createClient(url, key).functions.invoke(name, { body: { from: 'supabase-js' } }).then(({ data, error }) => {
  console.log(JSON.stringify({ data, status: error ? (error.context && error.context.status) || error.name : 200 }))
})
