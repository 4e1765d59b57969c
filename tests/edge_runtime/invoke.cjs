// supabase-js as an app calls a function: createClient(projectUrl, key).functions.invoke(name, {body}).
// node invoke.cjs <project URL> <key> <name> [method]  -> {data, status} as JSON on stdout (GET: no body).
const { createClient } = require('@supabase/supabase-js')
const [url, key, name, method = 'POST'] = process.argv.slice(2)
const options = method === 'GET' ? { method } : { method, body: { from: 'supabase-js' } }
createClient(url, key).functions.invoke(name, options).then(({ data, error }) => {
  console.log(JSON.stringify({ data, status: error ? (error.context && error.context.status) || error.name : 200 }))
})
