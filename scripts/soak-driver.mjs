// A soak workload for a running hybrid-llm server (loopback only): many requests, streaming and not, chat and
// completions, sharing system prompts and continuing earlier conversations, some cancelled by the client mid-way,
// some over the server's limits. Every loop is bounded in count and time. Used by test/soak-node.test.ts (in CI)
// and scripts/soak.mjs (longer runs).

/** Deterministic PRNG (mulberry32). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs `requests` requests against `url` with at most `concurrency` in flight, stopping early after `deadlineMs`.
 * Returns the client-side tally: ok (a complete answer), cancelled (the client gave up on purpose), refused (a 4xx
 * the workload asked for), unexpected (anything else: a 5xx, a network error, a malformed stream), and the
 * requests that were sent.
 */
export async function soak({ url, apiKey, model, requests, concurrency = 16, seed = 1, deadlineMs = 10 * 60_000, maxTokens = 8 }) {
  const random = prng(seed);
  const pick = (items) => items[Math.floor(random() * items.length)];
  const systems = ["You are terse.", "You answer in French. ".repeat(12), "Think step by step. ".repeat(30)];
  const topics = ["rivers", "mountains", "state space models", "attention", "caches", "tokenizers", "batching", "GPUs"];
  const conversations = [];
  const tally = { sent: 0, ok: 0, cancelled: 0, refused: 0, unexpected: [] };
  const started = Date.now();
  const headers = { authorization: `Bearer ${apiKey}`, "content-type": "application/json" };

  async function one() {
    const roll = random();
    const stream = random() < 0.5;
    const controller = new AbortController();
    const cancelAfter = random() < 0.12 ? 1 + Math.floor(random() * 3) : 0; // chunks before the client hangs up
    let path = "/v1/chat/completions";
    let body;
    let expectStatus = 200;
    if (roll < 0.04) {
      body = { model, messages: [{ role: "user", content: "x" }], max_tokens: 1_000_000 }; // over the limit
      expectStatus = 400;
    } else if (roll < 0.07) {
      body = { model, messages: [{ role: "user", content: "x" }], tools: [{ type: "function", function: { name: "f" } }] }; // unsupported
      expectStatus = 400;
    } else if (roll < 0.25) {
      path = "/v1/completions";
      body = { model, prompt: `${pick(systems)} Write about ${pick(topics)}.`, max_tokens: 1 + Math.floor(random() * maxTokens), temperature: 0 };
    } else {
      // A new conversation on a shared system prompt, or the next turn of an earlier one.
      const earlier = conversations.length > 0 && random() < 0.5 ? pick(conversations) : undefined;
      const messages = earlier ? [...earlier, { role: "user", content: `And ${pick(topics)}?` }] : [{ role: "system", content: pick(systems) }, { role: "user", content: `Tell me about ${pick(topics)}.` }];
      body = { model, messages, max_tokens: 1 + Math.floor(random() * maxTokens), temperature: random() < 0.5 ? 0 : 0.8 };
    }
    body.stream = stream;
    tally.sent++;
    try {
      const response = await fetch(`${url}${path}`, { method: "POST", headers, body: JSON.stringify(body), signal: controller.signal });
      if (response.status !== expectStatus) {
        tally.unexpected.push(`${path} → ${response.status} ${await response.text()}`);
        return;
      }
      if (expectStatus !== 200) {
        await response.text();
        tally.refused++;
        return;
      }
      if (!stream) {
        const json = await response.json();
        const content = json.choices?.[0]?.message?.content ?? json.choices?.[0]?.text;
        if (typeof content !== "string" || !json.usage) tally.unexpected.push(`${path}: malformed answer ${JSON.stringify(json)}`);
        else {
          tally.ok++;
          if (body.messages && conversations.length < 64) conversations.push([...body.messages, { role: "assistant", content }]);
        }
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let text = "";
      let chunks = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        if (cancelAfter > 0 && ++chunks >= cancelAfter) {
          controller.abort();
          tally.cancelled++;
          return;
        }
      }
      if (!text.includes("data: [DONE]")) tally.unexpected.push(`${path}: stream ended without [DONE]: ${text.slice(-200)}`);
      else tally.ok++;
    } catch (error) {
      if (controller.signal.aborted) tally.cancelled++;
      else tally.unexpected.push(`${path}: ${error.message}`);
    }
  }

  let next = 0;
  async function worker() {
    while (next < requests && Date.now() - started < deadlineMs) {
      next++;
      await one();
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ...tally, ms: Date.now() - started };
}
