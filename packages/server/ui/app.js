// The hybrid-llm web page: a streaming chat over POST /v1/chat/completions and a live view of the engine fed by
// GET /v1/engine/events. Plain browser JavaScript, served as is (no build step). Every text from the server is
// written with textContent, never parsed as HTML.

const keyStorage = "hybrid-llm.api-key";
const $ = (id) => document.getElementById(id);

// ---- The API key: asked for when the server answers 401, kept in this tab's sessionStorage, sent as a header.

let apiKey = sessionStorage.getItem(keyStorage) ?? "";
let keyPrompt;

function headers(extra = {}) {
  return apiKey === "" ? extra : { ...extra, authorization: `Bearer ${apiKey}` };
}

/** Shows the key dialog (once, however many requests are waiting for it); resolves when a key was entered. */
function askForKey(message) {
  if (keyPrompt !== undefined) return keyPrompt;
  keyPrompt = new Promise((resolve) => {
    const dialog = $("key-dialog");
    $("key-message").textContent = message;
    $("api-key").value = "";
    $("key-form").onsubmit = (event) => {
      event.preventDefault();
      apiKey = $("api-key").value;
      sessionStorage.setItem(keyStorage, apiKey);
      dialog.close();
      keyPrompt = undefined;
      resolve();
    };
    // The key is needed to go on: Escape does not close the dialog.
    dialog.oncancel = (event) => event.preventDefault();
    dialog.showModal();
  });
  return keyPrompt;
}

/** fetch with the key; on 401 asks for a key and tries again. */
async function api(path, init = {}) {
  for (;;) {
    const response = await fetch(path, { ...init, headers: headers(init.headers) });
    if (response.status !== 401) return response;
    await response.body?.cancel();
    await askForKey(apiKey === "" ? "This server needs an API key." : "That key was refused; enter the server's API key.");
  }
}

/** The server-sent events of a response, as { event, data } (data parsed as JSON unless it is [DONE]). */
async function* serverSentEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length === 0) continue;
      const text = data.join("\n");
      yield { event, data: text === "[DONE]" ? text : JSON.parse(text) };
    }
  }
}

// ---- The chat.

let modelName = "";
const history = [];
let running;

function addMessage(role, text) {
  const element = document.createElement("div");
  element.className = `message ${role}`;
  element.textContent = text;
  $("messages").append(element);
  element.scrollIntoView({ block: "end" });
  return element;
}

async function send(text) {
  history.push({ role: "user", content: text });
  addMessage("user", text);
  const answer = addMessage("assistant", "");
  answer.dataset.state = "streaming";
  const body = {
    model: modelName,
    messages: history,
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: Number($("max-tokens").value) || 256,
    temperature: Number($("temperature").value),
  };
  running = new AbortController();
  $("stop").disabled = false;
  $("send").disabled = true;
  let content = "";
  try {
    const response = await api("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: running.signal });
    if (!response.ok) throw new Error((await response.json()).error?.message ?? `HTTP ${response.status}`);
    for await (const { data } of serverSentEvents(response)) {
      if (data === "[DONE]") break;
      if (data.error !== undefined) throw new Error(data.error.message);
      const delta = data.choices[0]?.delta?.content;
      if (delta) {
        content += delta;
        answer.textContent = content;
        answer.scrollIntoView({ block: "end" });
      }
      if (data.usage) {
        const usage = document.createElement("span");
        usage.className = "usage";
        const cached = data.usage.prompt_tokens_details?.cached_tokens ?? 0;
        usage.textContent = `${data.usage.prompt_tokens} prompt tokens (${cached} from the cache), ${data.usage.completion_tokens} generated`;
        answer.append(usage);
      }
    }
    history.push({ role: "assistant", content });
    answer.dataset.state = "done";
  } catch (error) {
    answer.dataset.state = "stopped";
    if (error.name === "AbortError") {
      history.push({ role: "assistant", content });
    } else {
      history.pop();
      answer.classList.add("error");
      answer.textContent = `${content}\n[${error.message}]`;
    }
  } finally {
    running = undefined;
    $("stop").disabled = true;
    $("send").disabled = false;
  }
}

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("prompt").value.trim();
  if (text === "" || running !== undefined || modelName === "") return;
  $("prompt").value = "";
  send(text);
});
$("prompt").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("chat-form").requestSubmit();
  }
});
$("stop").addEventListener("click", () => running?.abort());
$("new-chat").addEventListener("click", () => {
  running?.abort();
  history.length = 0;
  $("messages").replaceChildren();
});

// ---- The live view.

const rates = [];
const spark = [];

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function figures(list, rows) {
  list.replaceChildren(
    ...rows.flatMap(([label, value, swatch]) => {
      const dt = document.createElement("dt");
      if (swatch) {
        const mark = document.createElement("span");
        mark.className = `swatch seg ${swatch}`;
        dt.append(mark);
      }
      dt.append(label);
      const dd = document.createElement("dd");
      dd.textContent = value;
      return [dt, dd];
    }),
  );
}

function slotElement(view) {
  const element = document.createElement("div");
  element.className = "slot";
  element.dataset.slot = view.slot;
  element.dataset.phase = view.phase;
  const phase = document.createElement("div");
  phase.className = "phase";
  const detail = document.createElement("div");
  if (view.phase === "prefill") {
    phase.textContent = `#${view.slot} prefill`;
    detail.textContent = `req ${view.requestId}: ${view.prefilled} of ${view.promptTokens} (${view.cachedTokens} cached)`;
    const progress = document.createElement("div");
    progress.className = "progress";
    const done = document.createElement("span");
    done.style.width = `${(100 * view.prefilled) / Math.max(1, view.promptTokens)}%`;
    progress.append(done);
    element.append(phase, detail, progress);
    return element;
  }
  if (view.phase === "decode") {
    phase.textContent = `#${view.slot} decoding`;
    detail.textContent = `req ${view.requestId}: ${view.generated} tokens`;
  } else if (view.phase === "cached") {
    phase.textContent = `#${view.slot} cached`;
    detail.textContent = `${view.tokens} tokens kept`;
  } else {
    phase.textContent = `#${view.slot} idle`;
    detail.textContent = "empty";
  }
  element.append(phase, detail);
  return element;
}

function drawSpark() {
  const canvas = $("spark");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const top = Math.max(1, ...spark);
  context.strokeStyle = "#3aa757";
  context.lineWidth = 2;
  context.beginPath();
  spark.forEach((value, i) => {
    const x = (i / 119) * canvas.width;
    const y = canvas.height - 2 - (value / top) * (canvas.height - 4);
    if (i === 0) context.moveTo(x, y);
    else context.lineTo(x, y);
  });
  context.stroke();
}

function render(snapshot) {
  $("slots").replaceChildren(...snapshot.slots.map(slotElement));
  const pool = snapshot.pool;
  const share = (n) => `${(100 * n) / Math.max(1, pool.cells)}%`;
  const bar = $("pool-bar");
  bar.querySelector(".requests").style.width = share(pool.requests);
  bar.querySelector(".cached").style.width = share(pool.cached);
  bar.querySelector(".free").style.width = share(pool.free);
  $("pool-cells").textContent = `(${pool.cells} cells, one pool for every slot)`;
  figures($("pool"), [
    ["held by requests", pool.requests, "requests"],
    ["cached prefixes", pool.cached, "cached"],
    ["free", pool.free, "free"],
    ["written (per sequence)", pool.used],
  ]);
  const cache = snapshot.cache;
  figures($("cache"), [
    ["prefix hits / misses", `${cache.hits} / ${cache.misses}`],
    ["prompt tokens reused", cache.tokensReused],
    ["checkpoints", `${cache.checkpoints} (${bytes(cache.checkpointBytes)} of ${bytes(cache.checkpointBudgetBytes)})`],
    ["evicted: checkpoints / prefixes", `${cache.checkpointEvictions} / ${cache.prefixEvictions}`],
  ]);
  rates.push(snapshot.tokensPerSecond);
  if (rates.length > 4) rates.shift();
  const average = (key) => rates.reduce((sum, rate) => sum + rate[key], 0) / rates.length;
  spark.push(snapshot.tokensPerSecond.generated);
  if (spark.length > 120) spark.shift();
  figures($("throughput"), [
    ["generated", `${average("generated").toFixed(1)} tokens/s`],
    ["prompt evaluated", `${average("prompt").toFixed(1)} tokens/s`],
    ["queue", `${snapshot.queue.depth} waiting (${snapshot.queue.preempted} preempted)`],
    ["totals", `${snapshot.totals.tokensGenerated} generated, ${snapshot.totals.promptTokensEvaluated} prompt; ${snapshot.totals.swaps} swaps, ${snapshot.totals.recomputes} recomputes`],
  ]);
  drawSpark();
  $("feed-status").textContent = snapshot.state === "running" ? "live" : `engine ${snapshot.state}`;
}

function describe(event) {
  switch (event.type) {
    case "admitted":
      return `req ${event.requestId} → slot ${event.slot}: ${event.promptTokens} prompt tokens, ${event.cachedTokens} from the cache`;
    case "left":
      return `req ${event.requestId} left slot ${event.slot} (finished, cancelled or preempted)`;
    case "preempted":
      return `preempted: ${event.swaps} swapped, ${event.recomputes} to recompute`;
    case "checkpoints-evicted":
      return `${event.count} checkpoint(s) evicted for room`;
    case "state":
      return `engine ${event.state}`;
    default:
      return JSON.stringify(event);
  }
}

function logEvent(event) {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()} ${describe(event)}`;
  $("events").prepend(item);
  while ($("events").children.length > 50) $("events").lastElementChild.remove();
}

async function follow() {
  for (;;) {
    try {
      const response = await api("/v1/engine/events");
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      for await (const { event, data } of serverSentEvents(response)) {
        if (event === "snapshot") render(data);
        else if (event === "engine") logEvent(data);
      }
      $("feed-status").textContent = "reconnecting…";
    } catch (error) {
      $("feed-status").textContent = `feed lost (${error.message}); reconnecting…`;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** Learns the model's name (asking for the key if needed), then enables the chat and follows the engine. */
async function start() {
  for (;;) {
    try {
      const response = await api("/v1/models");
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      modelName = (await response.json()).data[0].id;
      break;
    } catch (error) {
      $("feed-status").textContent = `server unavailable (${error.message}); retrying…`;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
  $("model").textContent = modelName;
  $("send").disabled = false;
  follow();
}

start();
