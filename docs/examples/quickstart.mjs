// Fetch a twin as a system prompt from Node.js (18+). Needs TWIN_KEY.
const base = process.env.TWIN_BASE_URL ?? 'http://127.0.0.1:8080';
const res = await fetch(`${base}/v1/public/twin/preset/estandar?format=json&lang=es`, {
  headers: { 'X-Twin-Key': process.env.TWIN_KEY },
});
if (!res.ok) {
  throw new Error(`Twin API answered ${res.status}: ${await res.text()}`);
}
const { systemPrompt } = await res.json();
// Put systemPrompt in the system message of your LLM call.
console.log(systemPrompt);
