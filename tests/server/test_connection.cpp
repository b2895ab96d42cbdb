// Connection-level behaviour: keep-alive, limits (413, 431, connections), timeouts
// (slowloris), SSE byte format, client disconnects aborting requests, graceful shutdown.
#include <thread>

#include "server_fixture.h"

namespace strata::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string stream_chat_body(int max_tokens, json extra = json::object()) {
  json body = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", max_tokens},
               {"stream", true}};
  body.update(extra);
  return body.dump();
}

TEST_F(ServerTest, StreamingChatBytes) {
  Connection c(port());
  c.send(http_request("POST", "/v1/chat/completions",
                      stream_chat_body(14, {{"stream_options", {{"include_usage", true}}}})));
  Reply r = c.read_reply();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "text/event-stream; charset=utf-8");
  EXPECT_EQ(r.headers["transfer-encoding"], "chunked");
  // Every chunk is exactly one event.
  EXPECT_TRUE(r.raw_body.ends_with("data: [DONE]\n\n\r\n0\r\n\r\n")) << r.raw_body;
  std::vector<std::string> events = sse_payloads(r.body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  json first = json::parse(events[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  std::string id = first["id"];
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    json chunk = json::parse(events[i]);
    EXPECT_EQ(chunk["id"], id);
    EXPECT_TRUE(chunk.contains("usage") && chunk["usage"].is_null());
    ASSERT_EQ(chunk["choices"].size(), 1u);
    const json& delta = chunk["choices"][0]["delta"];
    if (delta.contains("content")) text += delta["content"].get<std::string>();
    if (i + 3 == events.size()) EXPECT_EQ(chunk["choices"][0]["finish_reason"], "length");
    else EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
  }
  EXPECT_EQ(text, fake_reply(0).substr(0, 14));  // "Choice 0: héll": é arrives whole
  json usage_chunk = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage_chunk["choices"].empty());
  EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], 14);
  // The connection stays usable after a stream.
  c.send(http_request("GET", "/health"));
  EXPECT_EQ(c.read_reply().status, 200);
}

TEST_F(ServerTest, StreamingCompletionsWithNAndLogprobsKeepChoicesApart) {
  json body = {{"prompt", "x"}, {"max_tokens", 6}, {"n", 2}, {"logprobs", 1}, {"stream", true}};
  Reply r = post("/v1/completions", body);
  ASSERT_EQ(r.status, 200);
  std::map<int, std::string> text;
  std::map<int, int> tokens;
  for (const std::string& e : sse_payloads(r.body)) {
    if (e == "[DONE]") continue;
    json chunk = json::parse(e);
    EXPECT_EQ(chunk["object"], "text_completion");
    for (const json& c : chunk["choices"]) {
      int i = c["index"];
      text[i] += c["text"].get<std::string>();
      if (!c["logprobs"].is_null()) {
        tokens[i] += static_cast<int>(c["logprobs"]["tokens"].size());
        for (const json& lp : c["logprobs"]["token_logprobs"]) EXPECT_FLOAT_EQ(lp.get<float>(), -0.25f * (i + 1));
      }
    }
  }
  EXPECT_EQ(text[0], fake_reply(0).substr(0, 6));
  EXPECT_EQ(text[1], fake_reply(1).substr(0, 6));
  EXPECT_EQ(tokens[0], 6);
  EXPECT_EQ(tokens[1], 6);
}

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  Connection c(port());
  for (int i = 0; i < 5; ++i) {
    c.send(http_request("POST", "/v1/completions", json{{"prompt", "a"}, {"max_tokens", 2}}.dump()));
    Reply r = c.read_reply();
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["connection"], "keep-alive");
  }
  // Pipelined requests are answered in order.
  c.send(http_request("GET", "/health") + http_request("GET", "/v1/models"));
  EXPECT_EQ(c.read_reply().body, R"({"status":"ok"})");
  EXPECT_EQ(c.read_reply().json()["object"], "list");
  c.send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  Reply last = c.read_reply();
  EXPECT_EQ(last.headers["connection"], "close");
  EXPECT_TRUE(c.closed_by_peer(2s));
}

TEST_F(ServerTest, BodyTooLargeIs413) {
  Reply r = post("/v1/completions", std::string(100 << 10, ' '));
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(r.json()["error"]["message"].is_string());
}

TEST_F(ServerTest, HeadersTooLargeAre431) {
  Reply r = get("/health", {"X-Big: " + std::string(20 << 10, 'a')});
  EXPECT_EQ(r.status, 431);
}

TEST_F(ServerTest, BrokenFramingIs400) {
  Connection c(port());
  c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n");
  EXPECT_EQ(c.read_reply().status, 400);
  Connection d(port());
  c.close();
  d.send("GARBAGE\r\n\r\n");
  EXPECT_EQ(d.read_reply().status, 400);
}

TEST_F(ServerTest, ShortBodyTimesOutWith400) {
  ServerConfig config = test_server_config();
  config.body_timeout = 300ms;
  start(config);
  Connection c(port());
  c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\":");
  Reply r = c.read_reply(3s);
  EXPECT_EQ(r.status, 400);
}

// Sends `bytes` one at a time, 50 ms apart, checking that another client is served after
// each; then expects the server to have cut the slow connection off, with `status` or by
// closing it, within 3 s of the first byte.
void expect_trickle_cut_off(unsigned short port, Connection& slow, const std::string& bytes, int status) {
  auto started = std::chrono::steady_clock::now();
  bool cut_off = false;
  for (char byte : bytes) {
    if (!slow.send_quietly(std::string(1, byte))) {
      cut_off = true;
      break;
    }
    EXPECT_EQ(fetch(port, "GET", "/health").status, 200);  // others are served meanwhile
    std::this_thread::sleep_for(50ms);
    if (std::chrono::steady_clock::now() - started > 2s) break;
  }
  if (!cut_off) {
    Reply r = slow.read_reply(2s);
    EXPECT_EQ(r.status, status);
    cut_off = slow.closed_by_peer(2s);
  }
  EXPECT_TRUE(cut_off);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST_F(ServerTest, SlowlorisIsCutOffWithoutBlockingOthers) {
  ServerConfig config = test_server_config();
  config.header_timeout = 400ms;
  start(config);
  Connection slow(port());
  const std::string request = http_request("GET", "/health");
  expect_trickle_cut_off(port(), slow, request.substr(0, request.size() - 2), 408);
}

// BAD_INPUTS 32, the body side: complete headers, then a body trickling in one byte at a
// time. The body timeout runs from the end of the headers, so the trickle cannot keep the
// connection (and its buffer) alive by sending just often enough.
TEST_F(ServerTest, TricklingBodyIsCutOffWithoutBlockingOthers) {
  ServerConfig config = test_server_config();
  config.body_timeout = 400ms;
  start(config);
  const std::string body = R"({"prompt": "a long enough body to trickle for seconds", "max_tokens": 2})";
  Connection slow(port());
  slow.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n");
  expect_trickle_cut_off(port(), slow, body, 400);
  EXPECT_EQ(engine().live_requests(), 0);  // the engine never saw the request
}

TEST_F(ServerTest, IdleKeepAliveConnectionsAreClosed) {
  ServerConfig config = test_server_config();
  config.idle_timeout = 200ms;
  start(config);
  Connection c(port());
  EXPECT_TRUE(c.closed_by_peer(2s));
}

TEST_F(ServerTest, ConnectionLimit) {
  ServerConfig config = test_server_config();
  config.max_connections = 2;
  start(config);
  Connection a(port()), b(port());
  a.send(http_request("GET", "/health"));
  ASSERT_EQ(a.read_reply().status, 200);
  b.send(http_request("GET", "/health"));
  ASSERT_EQ(b.read_reply().status, 200);
  Connection c(port());
  c.send(http_request("GET", "/health"));
  EXPECT_EQ(c.read_reply().status, 503);
  a.send(http_request("GET", "/health"));  // the accepted ones are still served
  EXPECT_EQ(a.read_reply().status, 200);
  a.close();
  EXPECT_TRUE(eventually([&] { return server_->open_connections() <= 1; }));
  EXPECT_EQ(get("/health").status, 200);
}

TEST_F(ServerTest, DisconnectMidStreamAbortsTheRequest) {
  FakeEngineOptions options;
  options.token_delay = 20ms;
  start(test_server_config(), options);
  Connection c(port());
  c.send(http_request("POST", "/v1/chat/completions", stream_chat_body(200)));
  c.read_until("\"content\":\"C", 5s);  // the first token arrived
  c.close();
  EXPECT_TRUE(eventually([&] { return engine().aborts() == 1; }));
  EXPECT_TRUE(eventually([&] { return engine().live_requests() == 0; }));
  EXPECT_TRUE(eventually([&] { return server_->running_jobs() == 0; }));
  EXPECT_NE(get("/metrics").body.find("strata_aborted_requests_total 1"), std::string::npos);
}

TEST_F(ServerTest, DisconnectBeforeTheFirstTokenAbortsTheRequest) {
  FakeEngineOptions options;
  options.token_delay = 300ms;  // the first token is still far away when the client leaves
  start(test_server_config(), options);
  {
    Connection c(port());
    c.send(http_request("POST", "/v1/chat/completions", stream_chat_body(50)));
    ASSERT_TRUE(eventually([&] { return engine().live_requests() == 1; }));
  }
  EXPECT_TRUE(eventually([&] { return engine().aborts() == 1; }, 2s));
  EXPECT_TRUE(eventually([&] { return engine().live_requests() == 0; }));
  // The job counts the abort as it ends, which may be a poll of its stream after the engine
  // saw the abort (CI under the sanitizers read the metrics in between).
  EXPECT_TRUE(eventually([&] { return server_->running_jobs() == 0; }));
  EXPECT_NE(get("/metrics").body.find("strata_aborted_requests_total 1"), std::string::npos);
}

TEST_F(ServerTest, DisconnectWhileWaitingForNonStreamedResponseAborts) {
  FakeEngineOptions options;
  options.token_delay = 20ms;
  start(test_server_config(), options);
  {
    Connection c(port());
    c.send(http_request("POST", "/v1/completions", json{{"prompt", "a"}, {"max_tokens", 200}}.dump()));
    EXPECT_TRUE(eventually([&] { return engine().live_requests() == 1; }));
  }
  EXPECT_TRUE(eventually([&] { return engine().aborts() == 1; }, 1s));
  EXPECT_TRUE(eventually([&] { return engine().live_requests() == 0; }));
}

TEST_F(ServerTest, GracefulShutdownFinishesInFlightRequests) {
  FakeEngineOptions options;
  options.token_delay = 10ms;
  start(test_server_config(), options);
  Connection streaming(port());
  streaming.send(http_request("POST", "/v1/chat/completions", stream_chat_body(40)));
  streaming.read_until("\"role\":\"assistant\"", 5s);
  Connection idle(port());
  idle.send(http_request("GET", "/health"));
  ASSERT_EQ(idle.read_reply().status, 200);

  std::thread stopper([&] { server_->shutdown(5s); });
  EXPECT_TRUE(idle.closed_by_peer(2s));  // idle keep-alive connections close at once
  std::string rest = streaming.read_until("0\r\n\r\n", 5s);
  EXPECT_NE(rest.find("data: [DONE]"), std::string::npos);
  EXPECT_TRUE(streaming.closed_by_peer(2s));
  stopper.join();
  EXPECT_EQ(engine().aborts(), 0);
  EXPECT_THROW(Connection refused(port()), std::runtime_error);  // no longer accepting
}

TEST_F(ServerTest, ShutdownTimeoutAbortsWhatIsLeft) {
  FakeEngineOptions options;
  options.token_delay = 50ms;
  start(test_server_config(), options);
  Connection c(port());
  c.send(http_request("POST", "/v1/completions", json{{"prompt", "a"}, {"max_tokens", 200}}.dump()));
  ASSERT_TRUE(eventually([&] { return engine().live_requests() == 1; }));
  auto started = std::chrono::steady_clock::now();
  server_->shutdown(300ms);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_EQ(engine().aborts(), 1);
  EXPECT_EQ(engine().live_requests(), 0);
}

TEST_F(ServerTest, ManyConcurrentStreams) {
  FakeEngineOptions options;
  options.token_delay = 2ms;
  start(test_server_config(), options);
  constexpr int kClients = 64;
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      Reply r = post("/v1/chat/completions", stream_chat_body(20));
      auto events = sse_payloads(r.body);
      if (r.status == 200 && !events.empty() && events.back() == "[DONE]") ++ok;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients);
  EXPECT_TRUE(eventually([&] { return server_->open_connections() == 0; }))
      << server_->open_connections() << " connections, " << server_->running_jobs() << " jobs";
}

}  // namespace
}  // namespace strata::testing
