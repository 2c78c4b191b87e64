// Copyright 2026 The unidist-cpp Authors.

#include "testing/json.h"

#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace unidist::testing {
namespace {

constexpr int kMaxDepth = 200;

class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<Json> ParseDocument() {
    Json value;
    if (!ParseValue(&value, 0)) return Error();
    SkipSpace();
    if (pos_ != text_.size()) {
      error_ = "text after the value";
      return Error();
    }
    return value;
  }

 private:
  absl::Status Error() const {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON at byte ", pos_, ": ", error_));
  }
  bool Fail(const char* why) {
    error_ = why;
    return false;
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(absl::string_view literal) {
    if (text_.substr(pos_, literal.size()) != literal) return false;
    pos_ += literal.size();
    return true;
  }

  bool ParseValue(Json* value, int depth) {
    if (depth > kMaxDepth) return Fail("nested too deeply");
    SkipSpace();
    if (pos_ >= text_.size()) return Fail("unexpected end");
    const char c = text_[pos_];
    if (c == '{') return ParseObject(value, depth);
    if (c == '[') return ParseArray(value, depth);
    if (c == '"') {
      value->kind = Json::Kind::kString;
      return ParseString(&value->string);
    }
    if (Consume("true")) {
      value->kind = Json::Kind::kBool;
      value->boolean = true;
      return true;
    }
    if (Consume("false")) {
      value->kind = Json::Kind::kBool;
      return true;
    }
    if (Consume("null")) return true;
    return ParseNumber(value);
  }

  bool ParseObject(Json* value, int depth) {
    value->kind = Json::Kind::kObject;
    ++pos_;  // {
    SkipSpace();
    if (Consume("}")) return true;
    for (;;) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Fail("expected a member name");
      std::string key;
      if (!ParseString(&key)) return false;
      SkipSpace();
      if (!Consume(":")) return Fail("expected ':'");
      Json member;
      if (!ParseValue(&member, depth + 1)) return false;
      value->object.emplace_back(std::move(key), std::move(member));
      SkipSpace();
      if (Consume("}")) return true;
      if (!Consume(",")) return Fail("expected ',' or '}'");
    }
  }

  bool ParseArray(Json* value, int depth) {
    value->kind = Json::Kind::kArray;
    ++pos_;  // [
    SkipSpace();
    if (Consume("]")) return true;
    for (;;) {
      Json element;
      if (!ParseValue(&element, depth + 1)) return false;
      value->array.push_back(std::move(element));
      SkipSpace();
      if (Consume("]")) return true;
      if (!Consume(",")) return Fail("expected ',' or ']'");
    }
  }

  bool ParseHex4(uint32_t* code) {
    if (pos_ + 4 > text_.size()) return Fail("short \\u escape");
    *code = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return Fail("bad \\u escape");
      *code = *code * 16 + static_cast<uint32_t>(absl::ascii_isdigit(static_cast<unsigned char>(c))
                                                     ? c - '0'
                                                     : absl::ascii_tolower(c) - 'a' + 10);
    }
    return true;
  }

  static void AppendUtf8(uint32_t code, std::string* out) {
    if (code < 0x80) {
      out->push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (code >> 6)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3f)));
    } else if (code < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (code >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (code >> 18)));
      out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3f)));
    }
  }

  // A raw multi-byte UTF-8 sequence starting at pos_, copied to `out`.
  bool CopyUtf8(std::string* out) {
    const unsigned char lead = static_cast<unsigned char>(text_[pos_]);
    size_t length;
    uint32_t min_code;
    if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2, min_code = 0x80;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3, min_code = 0x800;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4, min_code = 0x10000;
    } else {
      return Fail("invalid UTF-8");
    }
    if (pos_ + length > text_.size()) return Fail("truncated UTF-8");
    uint32_t code = lead & (0xff >> (length + 1));
    for (size_t i = 1; i < length; ++i) {
      const unsigned char next = static_cast<unsigned char>(text_[pos_ + i]);
      if ((next & 0xc0) != 0x80) return Fail("invalid UTF-8");
      code = (code << 6) | (next & 0x3f);
    }
    if (code < min_code || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      return Fail("invalid UTF-8");
    }
    out->append(text_.data() + pos_, length);
    pos_ += length;
    return true;
  }

  bool ParseString(std::string* out) {
    ++pos_;  // "
    for (;;) {
      if (pos_ >= text_.size()) return Fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return Fail("control character in a string");
      if (c >= 0x80) {
        if (!CopyUtf8(out)) return false;
        continue;
      }
      ++pos_;
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        continue;
      }
      if (pos_ >= text_.size()) return Fail("unterminated escape");
      const char escape = text_[pos_++];
      switch (escape) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t code;
          if (!ParseHex4(&code)) return false;
          if (code >= 0xd800 && code <= 0xdbff) {  // a surrogate pair
            uint32_t low;
            if (!Consume("\\u") || !ParseHex4(&low) || low < 0xdc00 || low > 0xdfff) {
              return Fail("unpaired surrogate");
            }
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          } else if (code >= 0xdc00 && code <= 0xdfff) {
            return Fail("unpaired surrogate");
          }
          AppendUtf8(code, out);
          break;
        }
        default:
          return Fail("unknown escape");
      }
    }
  }

  bool ParseNumber(Json* value) {
    const size_t start = pos_;
    Consume("-");
    if (Consume("0")) {
      // no leading zeros
    } else if (pos_ < text_.size() && text_[pos_] >= '1' && text_[pos_] <= '9') {
      while (pos_ < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_])))
        ++pos_;
    } else {
      return Fail("expected a value");
    }
    auto digits = [this] {
      const size_t before = pos_;
      while (pos_ < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_])))
        ++pos_;
      return pos_ > before;
    };
    if (Consume(".") && !digits()) return Fail("expected digits after '.'");
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (!Consume("+")) Consume("-");
      if (!digits()) return Fail("expected exponent digits");
    }
    value->kind = Json::Kind::kNumber;
    value->number = std::strtod(std::string(text_.substr(start, pos_ - start)).c_str(), nullptr);
    return true;
  }

  const absl::string_view text_;
  size_t pos_ = 0;
  const char* error_ = "";
};

}  // namespace

const Json* Json::Find(absl::string_view key) const {
  for (const auto& [name, value] : object) {
    if (name == key) return &value;
  }
  return nullptr;
}

absl::StatusOr<Json> ParseJson(absl::string_view text) { return Parser(text).ParseDocument(); }

}  // namespace unidist::testing
