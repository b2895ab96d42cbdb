#!/usr/bin/env python3
"""Builds tests/tokenizer/data/corpus.json: the strings on which the C++ tokenizers must
match Hugging Face `tokenizers` id for id (see tools/gen_tokenizer_goldens.py).

The corpus is deterministic (fixed seed): hand-written cases covering scripts, emoji,
whitespace, numbers, code, URLs and special-token text, plus seeded random mixtures of
fragments. Entries are {"text": str} or, for byte strings that are not valid UTF-8,
{"hex": "..."}: the C++ side encodes those raw bytes, the reference tokenizes
bytes.decode("utf-8", errors="replace").

Usage: python3 tools/make_tokenizer_corpus.py"""
import json
import os
import random

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "tokenizer", "data", "corpus.json")

HAND_WRITTEN = [
    "", " ", "  ", "\t", "\n", "\n\n", "\r\n", "\r\n\r\n", " \n", "\t\t\n ", "a", "Hello world",
    " Hello world", "Hello World!", "hello, world! How are you?", "I'm sure you'll see they've gone; we'd've",
    "DON'T SHOUT, I'LL HEAR YOU'RE HERE", "'s 't 're 've 'm 'll 'd", "  leading and trailing  ",
    "multiple   spaces\tand\ttabs", "line1\nline2\r\nline3\rline4", "non\u00a0breaking\u00a0spaces",
    "narrow\u202fnbsp and ideographic\u3000space", "zero\u200bwidth\u200cjoiners\u200d", "em\u2003space",
    "0", "7", "42", "123", "1234", "12345", "1234567890", "3.14159", "1,000,000", "-273.15",
    "2024-01-15T10:30:00Z", "+1 (555) 123-4567", "99999999999999999999999999", "0x1F 0b1010 1e-9",
    "Ünïcödé", "café résumé naïve", "cafe\u0301 (combining acute)", "A\u030a vs \u00c5 vs \u212b",
    "\u1e9b\u0323 ﬁ ligature", "Straße", "ΑΒΓ αβγ Ωμέγα", "Привет, мир!", "Здравствуйте",
    "你好，世界！", "我想在apple工作1314151天～", "日本語のテキスト、カタカナとひらがな。", "한국어 텍스트입니다",
    "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "ሰላም ልዑል", "Γειά σου Κόσμε",
    "ខ្ញុំស្រលាញ់អ្នក", "བོད་ཡིག", "Tiếng Việt có dấu", "ქართული ენა", "Հայերեն", "ᠮᠣᠩᠭᠣᠯ",
    "😀", "😀😃😄", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸🇯🇵", "❤️", "🧑🏿‍💻 coding", "emoji in text 🚀 here",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙", "𐍈 gothic", "∀x∈ℝ: x²≥0", "½ ¾ ⅓ ① ⑳", "™ © ® § ¶ †",
    "def foo(x):\n    return x * 2\n", "int main() {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}",
    "fn main() { let v: Vec<u8> = vec![1, 2, 3]; }", "SELECT * FROM users WHERE id = 1;",
    "const f = (a, b) => a ?? b;", "#include <stdio.h>", "<html><body><p>Hi</p></body></html>",
    "{\"key\": [1, 2, {\"nested\": null}]}", "x = [i**2 for i in range(10) if i % 2 == 0]",
    "    indented\n        more\n", "if (a && b || !c) { x += 1; }", "$ ls -la | grep foo > out.txt",
    "https://example.com/path?query=1&b=two#frag", "mailto:someone@example.org", "www.test.co.uk/a_b-c",
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", "<s>[INST] hi [/INST]", "</s>", "<s>",
    "<unk>", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "<|endoftext|>", "<｜begin▁of▁sentence｜>Hello", "<|im_start|><|im_start|>", "text<|im_end|>text",
    " <|im_start|> spaced ", "<|im_start", "<think>\nreasoning\n</think>", "<tool_call>{}</tool_call>",
    "...", "!!!???", "''''''```````\"\"\"\"......!!!!!!??????", "------=======", "___init___",
    "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
    "ied 4 ½ months", "Äpfel", "   Hello\n    Hello", " (", "\n =", "' era", "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～",
    "\u0000 null and \u0007 bell", "\u00ad soft hyphen", "\ufeffBOM at start", "\ufffd replacement char",
    "a\u0300\u0301\u0302\u0303\u0304", "\u0915\u094d\u0937", "x" * 300, "ab" * 200, " " * 50, "\n" * 20,
    "9" * 60, "The quick brown fox jumps over the lazy dog. " * 8,
]

INVALID_UTF8 = [
    b"\xff", b"abc\xffdef", b"\xc3", b"\xc3(", b"\xe2\x82", b"\xe2\x82(", b"\xf0\x9f\x98",
    b"\xf0\x9f\x98 end", b"\xed\xa0\x80 surrogate", b"\xc0\xaf overlong", b"\xf8\x88\x80\x80\x80",
    b"\x80\x80 stray continuations", b"ok \xf4\x90\x80\x80 too big", b"\xe0\x80\xaf", b"mixed \xff\xc3\xa9\xfe",
    b"Hello \xf0\x9f\x98\x80\xf0\x9f", b"\xfe\xff", b"<|im_start|>\xff<|im_end|>",
]

FRAGMENTS = [
    "the", " quick", " brown", "Fox", "JUMPS", " over", "lazy", "dog", ".", ",", "!", "?", ":", ";", "'s", "'ll",
    "n't", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\u00a0", "\u3000", "0", "12", "345", "6789", "3.5",
    "100%", "$20", "#1", "@user", "é", "ñ", "ü", "ß", "ç", "Ø", "中文", "汉字", "日本", "カタカナ", "ひらがな",
    "한글", "العربية", "עברית", "हिन्दी", "ไทย", "русский", "Ελληνικά", "😀", "🎉", "👩‍💻", "👍🏻", "🇫🇷",
    "∑", "→", "≠", "…", "—", "–", "“quoted”", "‘single’", "«guillemets»", "(", ")", "[", "]", "{", "}",
    "<", ">", "</", "/>", "=", "==", "=>", "->", "::", "//", "/*", "*/", "#", "##", "```", "`code`",
    "http://", "https://", "www.", ".com", "/api/v1", "?q=", "&x=1", "snake_case", "camelCase",
    "PascalCase", "kebab-case", "SCREAMING_CASE", "<|im_start|>", "<|im_end|>", "<s>", "</s>",
    "<|endoftext|>", "<|eot_id|>", "\u0301", "\u0308", "\u200d", "\ufe0f", "a\u0301",
]


def random_strings(rng, count):
    out = []
    for _ in range(count):
        n = rng.randint(1, 14)
        out.append("".join(rng.choice(FRAGMENTS) for _ in range(n)))
    return out


def main():
    rng = random.Random(20261123)
    entries = [{"text": s} for s in HAND_WRITTEN]
    entries += [{"hex": b.hex()} for b in INVALID_UTF8]
    entries += [{"text": s} for s in random_strings(rng, 480)]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"strings": entries}, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"wrote {OUT}: {len(entries)} strings")


if __name__ == "__main__":
    main()
