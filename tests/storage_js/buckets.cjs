// supabase-js as an app uses Storage: createClient(projectUrl, key).storage.from(bucket), the bucket
// named as the app names it. node buckets.cjs <project URL> <key> <bucket> -> one JSON line on stdout.
const { createClient } = require('@supabase/supabase-js')
const [url, key, bucket] = process.argv.slice(2)
const message = (error) => (error ? error.message || String(error) : null)

async function fetched(target) {
  const answer = await fetch(target)
  return { status: answer.status, text: await answer.text() }
}

async function main() {
  const storage = createClient(url, key).storage
  const files = storage.from(bucket)
  const out = {}
  const one = await storage.getBucket(bucket)
  out.bucket = { data: one.data && { id: one.data.id, name: one.data.name }, error: message(one.error) }
  const all = await storage.listBuckets()
  out.buckets = { ids: all.data ? all.data.map((b) => b.id) : null, error: message(all.error) }
  const up = await files.upload('u/hello.txt', new Blob(['hello from supabase-js'], { type: 'text/plain' }),
    { upsert: true })
  out.upload = { data: up.data, error: message(up.error) }
  const down = await files.download('u/hello.txt')
  out.download = { text: down.data ? await down.data.text() : null, error: message(down.error) }
  const list = await files.list('u')
  out.list = { names: list.data ? list.data.map((f) => f.name) : null, error: message(list.error) }
  const signed = await files.createSignedUrl('u/hello.txt', 60)
  out.signed = { url: signed.data ? signed.data.signedUrl : null, error: message(signed.error) }
  if (signed.data) Object.assign(out.signed, await fetched(signed.data.signedUrl))
  const publicUrl = files.getPublicUrl('u/hello.txt').data.publicUrl
  out.public = { url: publicUrl, ...(await fetched(publicUrl)) }
  console.log(JSON.stringify(out))
}

main().catch((err) => { console.log(JSON.stringify({ crash: String(err && err.stack || err) })) })
