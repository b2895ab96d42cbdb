// The endpoints' response shapes, checked against the fake engine's known outputs.
#include "server/generation_job.h"
#include "server/openai_format.h"
#include "server/openai_routes.h"
#include "server_fixture.h"

namespace strata::testing {
namespace {

using nlohmann::json;

json chat_body(json extra = json::object()) {
  json body = {{"model", "test-model"},
               {"messages", {{{"role", "user"}, {"content", "hi"}}}},
               {"max_tokens", 13}};
  body.update(extra);
  return body;
}

// The reply of choice `index` cut to `tokens` bytes (one token per byte in the fake).
std::string expected_text(int index, int tokens) { return fake_reply(index).substr(0, tokens); }

TEST_F(ServerTest, HealthAndModels) {
  Reply health = get("/health");
  EXPECT_EQ(health.status, 200);
  Reply models = get("/v1/models");
  ASSERT_EQ(models.status, 200);
  json m = models.json();
  EXPECT_EQ(m["object"], "list");
  ASSERT_EQ(m["data"].size(), 1u);
  EXPECT_EQ(m["data"][0]["id"], "test-model");
  EXPECT_EQ(m["data"][0]["object"], "model");
  EXPECT_EQ(m["data"][0]["max_model_len"], 256);
  EXPECT_EQ(get("/v1/models/test-model").status, 200);
  Reply unknown = get("/v1/models/other");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.json()["error"]["code"], "model_not_found");
}

TEST_F(ServerTest, ChatCompletionShape) {
  Reply r = post("/v1/chat/completions", chat_body());
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_TRUE(j["id"].get<std::string>().starts_with("chatcmpl-"));
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_TRUE(j["created"].is_number_integer());
  EXPECT_EQ(j["model"], "test-model");
  EXPECT_TRUE(j["system_fingerprint"].is_string());
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], expected_text(0, 13));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  // Prompt: the ChatML rendering, special tokens parsed, with bos prepended.
  const std::string rendered = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n";
  auto expected_prompt = engine().tokenizer().encode(rendered, false, true);
  expected_prompt.insert(expected_prompt.begin(), 256);
  EXPECT_EQ(engine().last_request().prompt_tokens, expected_prompt);
  EXPECT_EQ(j["usage"]["prompt_tokens"], expected_prompt.size());
  EXPECT_EQ(j["usage"]["completion_tokens"], 13);
  EXPECT_EQ(j["usage"]["total_tokens"], expected_prompt.size() + 13);
}

TEST_F(ServerTest, ChatContentPartsAndParametersReachTheEngine) {
  json body = chat_body({{"temperature", 0.5}, {"top_p", 0.9}, {"top_k", 40}, {"min_p", 0.05},
                         {"seed", 7}, {"presence_penalty", 0.5}, {"frequency_penalty", -0.5},
                         {"repetition_penalty", 1.1}, {"logit_bias", {{"65", 5}}},
                         {"ignore_eos", true}, {"min_tokens", 2}, {"stop", "zzz"},
                         {"user", "u1"}, {"unknown_field", {1, 2}}});
  body["messages"] = {{{"role", "system"}, {"content", "be brief"}},
                      {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "a"}},
                                                      {{"type", "text"}, {"text", "b"}}}}}};
  Reply r = post("/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  GenerationRequest g = engine().last_request();
  EXPECT_FLOAT_EQ(g.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(g.sampling.top_p, 0.9f);
  EXPECT_EQ(g.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(g.sampling.min_p, 0.05f);
  EXPECT_EQ(g.sampling.seed, 7u);
  EXPECT_FLOAT_EQ(g.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(g.sampling.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(g.sampling.repetition_penalty, 1.1f);
  EXPECT_FLOAT_EQ(g.sampling.logit_bias.at(65), 5.0f);
  EXPECT_TRUE(g.stop.ignore_eos);
  EXPECT_EQ(g.stop.min_tokens, 2);
  EXPECT_EQ(g.stop.max_tokens, 13);
  EXPECT_EQ(g.stop.stop_strings, std::vector<std::string>{"zzz"});
  const std::string rendered =
      "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\na\nb<|im_end|>\n<|im_start|>assistant\n";
  EXPECT_EQ(engine().tokenizer().decode_bytes(g.prompt_tokens, false), "<s>" + rendered);
}

TEST_F(ServerTest, MaxCompletionTokensAndStop) {
  Reply r = post("/v1/chat/completions", chat_body({{"max_tokens", nullptr},
                                                    {"max_completion_tokens", 30},
                                                    {"stop", {"lo w"}}}));
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Choice 0: h\xC3\xA9l");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
}

TEST_F(ServerTest, ChatNChoicesWithLogprobs) {
  Reply r = post("/v1/chat/completions", chat_body({{"n", 3}, {"logprobs", true}, {"top_logprobs", 2},
                                                    {"max_tokens", 5}}));
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  ASSERT_EQ(j["choices"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const json& c = j["choices"][i];
    EXPECT_EQ(c["index"], i);
    EXPECT_EQ(c["message"]["content"], expected_text(i, 5));
    const json& content = c["logprobs"]["content"];
    ASSERT_EQ(content.size(), 5u);
    EXPECT_EQ(content[0]["token"], "C");
    EXPECT_FLOAT_EQ(content[0]["logprob"].get<float>(), -0.25f * (i + 1));
    EXPECT_EQ(content[0]["bytes"], json::array({67}));
    ASSERT_EQ(content[0]["top_logprobs"].size(), 2u);
    EXPECT_EQ(content[0]["top_logprobs"][0]["token"], "C");
    EXPECT_EQ(content[0]["top_logprobs"][1]["token"], "D");
  }
  EXPECT_EQ(j["usage"]["completion_tokens"], 15);
}

TEST_F(ServerTest, CompletionPromptForms) {
  json body = {{"model", "test-model"}, {"prompt", "ab"}, {"max_tokens", 4}};
  Reply r = post("/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_TRUE(j["id"].get<std::string>().starts_with("cmpl-"));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], expected_text(0, 4));
  EXPECT_EQ(engine().last_request().prompt_tokens, (std::vector<int32_t>{256, 'a', 'b'}));
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);

  body["prompt"] = {5, 6, 7};
  r = post("/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(engine().last_request().prompt_tokens, (std::vector<int32_t>{5, 6, 7}));

  body["prompt"] = {"x", "yz"};
  body["n"] = 2;
  r = post("/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  j = r.json();
  ASSERT_EQ(j["choices"].size(), 4u);  // prompt-major: prompt 0 choices 0,1 then prompt 1
  EXPECT_EQ(j["choices"][1]["text"], expected_text(1, 4));
  EXPECT_EQ(j["choices"][2]["text"], expected_text(0, 4));
  EXPECT_EQ(j["usage"]["prompt_tokens"], 2 + 3);
  EXPECT_EQ(j["usage"]["completion_tokens"], 16);

  body["prompt"] = json::array({json::array({1, 2}), json::array({3})});
  body["n"] = 1;
  r = post("/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["choices"].size(), 2u);
}

TEST_F(ServerTest, CompletionEchoAndLogprobs) {
  Reply r = post("/v1/completions", json{{"prompt", "Say: "}, {"max_tokens", 3}, {"echo", true}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["choices"][0]["text"], "Say: " + expected_text(0, 3));

  r = post("/v1/completions", json{{"prompt", "x"}, {"max_tokens", 3}, {"logprobs", 2}});
  ASSERT_EQ(r.status, 200) << r.body;
  json lp = r.json()["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"], json::array({"C", "h", "o"}));
  EXPECT_EQ(lp["token_logprobs"].size(), 3u);
  EXPECT_EQ(lp["text_offset"], json::array({0, 1, 2}));
  ASSERT_EQ(lp["top_logprobs"].size(), 3u);
  EXPECT_EQ(lp["top_logprobs"][0].size(), 2u);
  EXPECT_TRUE(lp["top_logprobs"][0].contains("C"));

  // One byte per token: "é" is split over two tokens, and the one completing it carries it,
  // so the tokens joined are the text. Offsets count characters of the returned text, as
  // Python indexes it. (The SDK conformance test once sampled two CJK characters split over
  // four tokens and found U+FFFD entries where the text had the characters.)
  r = post("/v1/completions", json{{"prompt", "Say: "}, {"max_tokens", 14}, {"logprobs", 1}});
  ASSERT_EQ(r.status, 200) << r.body;
  lp = r.json()["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 14u);
  EXPECT_EQ(lp["tokens"][11], "");
  EXPECT_EQ(lp["tokens"][12], "\xC3\xA9");
  std::string joined;
  for (const auto& t : lp["tokens"]) joined += t.get<std::string>();
  EXPECT_EQ(joined, r.json()["choices"][0]["text"]);
  EXPECT_EQ(lp["text_offset"][11], 11);
  EXPECT_EQ(lp["text_offset"][12], 11);
  EXPECT_EQ(lp["text_offset"][13], 12);  // "l" after "é": 12 characters, 13 bytes
}

// A sampled special token (generated with ignore_eos) adds nothing to a completion's text:
// the engine gives it empty text (ActiveRequestLogprobs in test_engine), its entry stays
// empty and the offsets within the text, and the alternatives keep the special token's
// name. (The SDK conformance test once sampled <|im_end|> and found the tokens joined
// longer than the text.)
TEST(CompletionLogprobs, SpecialTokensFollowTheText) {
  const strata::testing::ByteTokenizer tokenizer;
  const std::vector<TokenLogprob> logprobs = {{'a', -0.1f, {{'a', -0.1f}, {259, -2.f}}, "a"},
                                              {259, -0.5f, {{259, -0.5f}, {'b', -1.f}}, ""},
                                              {'b', -0.2f, {}, "b"}};
  size_t offset = 4;
  const json lp = completion_logprobs(tokenizer, logprobs, offset);
  EXPECT_EQ(lp["tokens"], json::array({"a", "", "b"}));
  EXPECT_EQ(lp["text_offset"], json::array({4, 5, 5}));
  EXPECT_EQ(offset, 6u);
  EXPECT_TRUE(lp["top_logprobs"][1].contains("<|im_end|>"));
  EXPECT_TRUE(lp["top_logprobs"][0].contains("<|im_end|>"));
}

TEST_F(ServerTest, TokenizeAndDetokenize) {
  Reply r = post("/tokenize", json{{"prompt", "hi"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["tokens"], json::array({256, 'h', 'i'}));
  EXPECT_EQ(r.json()["count"], 3);
  EXPECT_EQ(r.json()["max_model_len"], 256);
  r = post("/tokenize", json{{"prompt", "hi"}, {"add_special_tokens", false}});
  EXPECT_EQ(r.json()["tokens"], json::array({'h', 'i'}));
  r = post("/tokenize", json{{"messages", {{{"role", "user"}, {"content", "x"}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["tokens"][0], 256);
  EXPECT_EQ(r.json()["tokens"][1], 258);
  r = post("/detokenize", json{{"tokens", {'h', 'i', 257}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["prompt"], "hi</s>");
  EXPECT_EQ(post("/detokenize", json{{"tokens", {1000}}}).status, 400);
}

TEST_F(ServerTest, MetricsAreExposed) {
  ASSERT_EQ(post("/v1/completions", json{{"prompt", "ab"}, {"max_tokens", 4}}).status, 200);
  ASSERT_EQ(get("/nope").status, 404);
  Reply r = get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.headers["content-type"].starts_with("text/plain"));
  for (const char* needle :
       {"strata_http_requests_total{status=\"200\"} 1", "strata_http_requests_total{status=\"404\"} 1",
        "strata_prompt_tokens_total 3", "strata_generation_tokens_total 4",
        "strata_time_to_first_token_seconds_count 1", "strata_inter_token_latency_seconds_count 3",
        "strata_e2e_request_latency_seconds_count 1", "strata_num_requests_running 0",
        "strata_num_requests_waiting 0", "strata_kv_cache_usage_ratio 0",
        "strata_prefix_cache_hit_rate 0", "strata_num_preemptions_total 0",
        "strata_time_to_first_token_seconds_bucket{le=\"+Inf\"} 1"}) {
    EXPECT_NE(r.body.find(needle), std::string::npos) << needle << "\n" << r.body;
  }
}

// A request's tokens are in the metrics before its answer ends: they were added after the
// response was sent, and a client reading /metrics right after its answer could miss them
// (MetricsAreExposed failed so under load, CI 2026-12-06). The sink reads the metrics at the
// moment the answer ends, for a plain and a streamed answer.
TEST_F(ServerTest, TokensAreCountedBeforeTheAnswerEnds) {
  struct MetricsWhenAnswered : ResponseSink {
    ServerContext& context;
    std::string metrics;
    explicit MetricsWhenAnswered(ServerContext& c) : context(c) {}
    void read() { metrics = context.metrics().render(context.engine().stats()); }
    void send_response(HttpResponse) override { read(); }
    void start_event_stream() override {}
    void send_event(const std::string&) override {}
    void end_event_stream() override { read(); }
  };
  int prompts = 0, generated = 0;
  for (bool stream : {false, true}) {
    GenerationOptions options;
    options.kind = ApiKind::Completion;
    options.stream = stream;
    options.max_tokens = 4;
    auto job = submit_generation(*context_, options, {{'a', 'b', 'c'}}, {}, "cmpl", "prompt");
    MetricsWhenAnswered sink(*context_);
    job->run(sink);
    prompts += 3;
    generated += 4;
    EXPECT_NE(sink.metrics.find("strata_prompt_tokens_total " + std::to_string(prompts)), std::string::npos)
        << "stream " << stream << "\n" << sink.metrics;
    EXPECT_NE(sink.metrics.find("strata_generation_tokens_total " + std::to_string(generated)), std::string::npos)
        << "stream " << stream << "\n" << sink.metrics;
  }
}

TEST_F(ServerTest, MetricsReportTheEngineGauges) {
  FakeEngineOptions options;
  options.stats = EngineStats{.running = 3, .waiting = 5, .swapped = 1, .kv_blocks_total = 200,
                              .kv_blocks_used = 50, .prefix_cache_hits = 30, .prefix_cache_queries = 120,
                              .preemptions = 7, .steps = 11, .step_seconds = 2.5, .model_seconds = 2};
  start(test_server_config(), options);
  Reply r = get("/metrics");
  ASSERT_EQ(r.status, 200);
  for (const char* needle :
       {"\nstrata_num_requests_running 3\n", "\nstrata_num_requests_waiting 5\n",
        "\nstrata_num_requests_swapped 1\n", "\nstrata_kv_cache_usage_ratio 0.25\n",
        "\nstrata_kv_cache_blocks_used 50\n", "\nstrata_prefix_cache_hit_rate 0.25\n",
        "\nstrata_prefix_cache_hits_total 30\n", "\nstrata_prefix_cache_queries_total 120\n",
        "\nstrata_num_preemptions_total 7\n", "\nstrata_engine_step_seconds_total 2.5\n",
        "\nstrata_engine_model_seconds_total 2\n", "# TYPE strata_num_requests_running gauge\n",
        "# TYPE strata_num_preemptions_total counter\n",
        "# TYPE strata_inter_token_latency_seconds histogram\n"}) {
    EXPECT_NE(r.body.find(needle), std::string::npos) << needle << "\n" << r.body;
  }
}

TEST_F(ServerTest, WebPageIsServed) {
  Reply r = get("/");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.headers["content-type"].starts_with("text/html"));
  EXPECT_NE(r.body.find("<html"), std::string::npos);
}

}  // namespace
}  // namespace strata::testing
