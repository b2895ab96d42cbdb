#include "tokenizer/decoder.h"

#include "tokenizer/utf8.h"

namespace strata {

namespace {

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<DecoderPtr> steps) : steps_(std::move(steps)) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (const auto& s : steps_) s->decode(tokens);
  }
  // Every step per token, and nothing after a Fuse (which hands later steps the whole
  // text as one token: a Strip after it strips the first token's space only).
  bool per_token() const override {
    for (size_t i = 0; i < steps_.size(); ++i)
      if (!steps_[i]->per_token() || (steps_[i]->fuses() && i + 1 < steps_.size())) return false;
    return true;
  }

 private:
  std::vector<DecoderPtr> steps_;
};

class ByteLevelDecoder : public Decoder {
 public:
  bool per_token() const override { return true; }
  void decode(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      // A token made only of byte-level characters maps back to bytes; any other token
      // (an added token such as "<｜end▁of▁sentence｜>") is kept as written.
      std::string bytes;
      bool all_mapped = true;
      for (size_t pos = 0; pos < t.size() && all_mapped;) {
        auto b = utf8::char_to_byte(utf8::next_codepoint(t, pos));
        if (b) bytes += static_cast<char>(*b);
        else all_mapped = false;
      }
      if (all_mapped) t = std::move(bytes);
    }
  }
};

class ReplaceDecoder : public Decoder {
 public:
  bool per_token() const override { return true; }
  ReplaceDecoder(std::string pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) replace_all(t, pattern_, content_);
  }

 private:
  std::string pattern_, content_;
};

class ByteFallbackDecoder : public Decoder {
 public:
  bool per_token() const override { return true; }
  void decode(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      if (t.size() == 6 && t.rfind("<0x", 0) == 0 && t[5] == '>') {
        const auto hex = t.substr(3, 2);
        if (hex.find_first_not_of("0123456789ABCDEFabcdef") == std::string::npos)
          t = std::string(1, static_cast<char>(std::stoi(hex, nullptr, 16)));
      }
    }
  }
};

class FuseDecoder : public Decoder {
 public:
  bool per_token() const override { return true; }
  bool fuses() const override { return true; }
  void decode(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder : public Decoder {
 public:
  bool per_token() const override { return true; }
  StripDecoder(std::string content, size_t start, size_t stop) : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode(std::vector<std::string>& tokens) const override {
    if (content_.empty()) return;
    for (auto& t : tokens) {
      for (size_t i = 0; i < start_ && t.rfind(content_, 0) == 0; ++i) t.erase(0, content_.size());
      for (size_t i = 0; i < stop_ && t.size() >= content_.size() &&
                         t.compare(t.size() - content_.size(), content_.size(), content_) == 0;
           ++i)
        t.erase(t.size() - content_.size());
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class MetaspaceDecoder : public Decoder {
 public:
  bool per_token() const override { return !strip_first_space_; }
  MetaspaceDecoder(std::string replacement, bool strip_first_space)
      : replacement_(std::move(replacement)), strip_first_space_(strip_first_space) {}
  void decode(std::vector<std::string>& tokens) const override {
    // As in Hugging Face, every replacement character of the first token is dropped (not
    // only a leading one), e.g. a first token "▁▁▁" decodes to "".
    for (size_t i = 0; i < tokens.size(); ++i)
      replace_all(tokens[i], replacement_, i == 0 && strip_first_space_ ? "" : " ");
  }

 private:
  std::string replacement_;
  bool strip_first_space_;
};

class WordPieceDecoder : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      auto& t = tokens[i];
      if (i > 0) {
        if (t.rfind(prefix_, 0) == 0) t.erase(0, prefix_.size());
        else t.insert(0, " ");
      }
      if (cleanup_) clean(t);
    }
  }

 private:
  // The "clean_up_tokenization" of Hugging Face: no space before punctuation/contractions.
  static void clean(std::string& t) {
    static const std::pair<const char*, const char*> kRules[] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kRules) replace_all(t, from, to);
  }
  std::string prefix_;
  bool cleanup_;
};

}  // namespace

DecoderPtr make_sequence_decoder(std::vector<DecoderPtr> steps) { return std::make_unique<SequenceDecoder>(std::move(steps)); }
DecoderPtr make_byte_level_decoder() { return std::make_unique<ByteLevelDecoder>(); }
DecoderPtr make_replace_decoder(std::string pattern, std::string content) {
  return std::make_unique<ReplaceDecoder>(std::move(pattern), std::move(content));
}
DecoderPtr make_byte_fallback_decoder() { return std::make_unique<ByteFallbackDecoder>(); }
DecoderPtr make_fuse_decoder() { return std::make_unique<FuseDecoder>(); }
DecoderPtr make_strip_decoder(std::string content, size_t start, size_t stop) {
  return std::make_unique<StripDecoder>(std::move(content), start, stop);
}
DecoderPtr make_metaspace_decoder(std::string replacement, bool strip_first_space) {
  return std::make_unique<MetaspaceDecoder>(std::move(replacement), strip_first_space);
}
DecoderPtr make_wordpiece_decoder(std::string prefix, bool cleanup) {
  return std::make_unique<WordPieceDecoder>(std::move(prefix), cleanup);
}

}  // namespace strata
