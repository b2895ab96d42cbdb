// Strata's web chat: streams /v1/chat/completions over fetch + ReadableStream (SSE).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { model: null, history: [], controller: null };

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "message " + role;
  div.textContent = text;
  $("messages").appendChild(div);
  $("messages").scrollTop = $("messages").scrollHeight;
  return div;
}

async function loadModel() {
  try {
    const response = await fetch("/v1/models", { headers: headers() });
    const body = await response.json();
    if (response.status === 401) throw new Error("this server needs its API key (enter it at the left)");
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    state.model = body.data[0].id;
    $("model-name").textContent = state.model;
  } catch (e) {
    $("model-name").textContent = "model list unavailable: " + e.message;
  }
}

// Yields the JSON payloads of "data: ..." events as they arrive.
async function* serverSentEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  }
}

function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").disabled = !busy;
}

async function send(text) {
  state.history.push({ role: "user", content: text });
  addMessage("user", text);
  const bubble = addMessage("assistant", "");
  const messages = [];
  const system = $("system-prompt").value.trim();
  if (system) messages.push({ role: "system", content: system });
  messages.push(...state.history);
  const request = {
    model: state.model || undefined,
    messages,
    stream: true,
    stream_options: { include_usage: true },
    temperature: parseFloat($("temperature").value),
    max_tokens: parseInt($("max-tokens").value, 10) || undefined,
  };
  state.controller = new AbortController();
  setBusy(true);
  const started = performance.now();
  let firstTokenAt = null, tokens = 0, answer = "";
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(), body: JSON.stringify(request), signal: state.controller.signal,
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error ? body.error.message : response.statusText);
    }
    for await (const chunk of serverSentEvents(response)) {
      if (chunk.error) throw new Error(chunk.error.message);
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
      for (const choice of chunk.choices || []) {
        const piece = choice.delta && choice.delta.content;
        if (!piece) continue;
        if (firstTokenAt === null) firstTokenAt = performance.now();
        if (!chunk.usage) tokens += 1;
        answer += piece;
        bubble.textContent = answer;
        $("messages").scrollTop = $("messages").scrollHeight;
      }
      showStats(started, firstTokenAt, tokens);
    }
  } catch (e) {
    if (e.name !== "AbortError") addMessage("error", "Error: " + e.message);
  } finally {
    state.history.push({ role: "assistant", content: answer });
    state.controller = null;
    setBusy(false);
    document.body.dataset.state = "done";  // for scripts that drive the page
    showStats(started, firstTokenAt, tokens);
  }
}

function showStats(started, firstTokenAt, tokens) {
  if (firstTokenAt === null) return;
  const now = performance.now();
  const seconds = (now - firstTokenAt) / 1000;
  const rate = tokens > 1 && seconds > 0 ? ((tokens - 1) / seconds).toFixed(1) : "–";
  $("stats").textContent = `${tokens} tokens · ${rate} tokens/s · first token after ${Math.round(firstTokenAt - started)} ms`;
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("input").value.trim();
  if (!text || state.controller) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
$("stop").addEventListener("click", () => { if (state.controller) state.controller.abort(); });
$("clear").addEventListener("click", () => { state.history = []; $("messages").textContent = ""; $("stats").textContent = ""; });
$("temperature").addEventListener("input", () => { $("temperature-value").textContent = $("temperature").value; });
$("api-key").value = localStorage.getItem("strata-api-key") || "";
$("api-key").addEventListener("change", () => { localStorage.setItem("strata-api-key", $("api-key").value); loadModel(); });
// "/?prompt=..." sends that message once the page is ready (links, and the headless test).
loadModel().then(() => {
  const prompt = new URLSearchParams(location.search).get("prompt");
  if (prompt) { $("input").value = prompt; $("composer").requestSubmit(); }
});
