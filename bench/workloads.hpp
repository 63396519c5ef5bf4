#pragma once
//! \file workloads.hpp
//! The benchmark workloads read from bench/workloads.json (host only, no CUDA), with the
//! FLOP and byte counts every program reports. A small self-contained JSON reader: the
//! benchmark adds no dependency beyond Google Benchmark.

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace varattn_bench {

//! A parsed JSON value: enough of JSON for workloads.json (and any valid JSON text).
struct json_value {
  enum class kind { null, boolean, number, string, array, object };
  kind type = kind::null;
  bool boolean = false;
  double number = 0;
  std::string text;
  std::vector<json_value> items;                             // array
  std::vector<std::pair<std::string, json_value>> members;  // object, in file order

  const json_value* find(const std::string& key) const {
    for (const auto& member : members) {
      if (member.first == key) return &member.second;
    }
    return nullptr;
  }
};

namespace detail {

class json_parser {
 public:
  json_parser(const std::string& text, std::string source) : s_(text), source_(std::move(source)) {}

  json_value parse_document() {
    json_value value = parse_value(0);
    skip_space();
    if (pos_ != s_.size()) fail("trailing characters after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < pos_ && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::ostringstream out;
    out << source_ << ":" << line << ":" << column << ": " << what;
    throw std::runtime_error(out.str());
  }

  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool consume(char c) {
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!consume(c)) fail(std::string("expected '") + c + "'");
  }
  bool consume_word(const char* word) {
    std::size_t n = std::char_traits<char>::length(word);
    if (s_.compare(pos_, n, word) == 0) {
      pos_ += n;
      return true;
    }
    return false;
  }

  json_value parse_value(int depth) {
    if (depth > 64) fail("nesting deeper than 64");
    skip_space();
    if (pos_ >= s_.size()) fail("unexpected end of input");
    json_value value;
    const char c = s_[pos_];
    if (c == '{') {
      ++pos_;
      value.type = json_value::kind::object;
      if (consume('}')) return value;
      do {
        skip_space();
        if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a string key");
        std::string key = parse_string();
        expect(':');
        value.members.emplace_back(std::move(key), parse_value(depth + 1));
      } while (consume(','));
      expect('}');
    } else if (c == '[') {
      ++pos_;
      value.type = json_value::kind::array;
      if (consume(']')) return value;
      do {
        value.items.push_back(parse_value(depth + 1));
      } while (consume(','));
      expect(']');
    } else if (c == '"') {
      value.type = json_value::kind::string;
      value.text = parse_string();
    } else if (consume_word("true")) {
      value.type = json_value::kind::boolean;
      value.boolean = true;
    } else if (consume_word("false")) {
      value.type = json_value::kind::boolean;
    } else if (consume_word("null")) {
      value.type = json_value::kind::null;
    } else if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
      value.type = json_value::kind::number;
      const char* begin = s_.c_str() + pos_;
      char* end = nullptr;
      value.number = std::strtod(begin, &end);
      if (end == begin) fail("bad number");
      pos_ += static_cast<std::size_t>(end - begin);
    } else {
      fail(std::string("unexpected character '") + c + "'");
    }
    return value;
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) fail("unterminated escape");
      c = s_[pos_++];
      switch (c) {
        case '"': case '\\': case '/': out += c; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (pos_ + 4 > s_.size()) fail("short \\u escape");
          unsigned code = std::stoul(s_.substr(pos_, 4), nullptr, 16);
          pos_ += 4;
          // Names and comments here are ASCII; anything else becomes UTF-8 of the BMP code.
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
          }
          break;
        }
        default: fail(std::string("bad escape '\\") + c + "'");
      }
    }
  }

  const std::string& s_;
  std::string source_;
  std::size_t pos_ = 0;
};

}  // namespace detail

inline json_value parse_json(const std::string& text, const std::string& source = "<json>") {
  return detail::json_parser(text, source).parse_document();
}

//! One row of workloads.json.
struct workload {
  std::string name;
  std::string group;
  int32_t heads_q = 0;
  int32_t heads_kv = 0;
  int32_t head_dim = 0;
  bool causal = false;
  int32_t encoder_layers = 0;
  std::vector<int32_t> lengths_q;
  std::vector<int32_t> lengths_k;  //!< equal to lengths_q unless the file gives lengths_k

  int64_t rows_q() const { return sum(lengths_q); }
  int64_t rows_k() const { return sum(lengths_k); }

  //! Query-key pairs the attention evaluates. Causal (bottom-right aligned, as varattn):
  //! query i of a segment sees key j iff j <= i + len_k - len_q, so the segment contributes
  //! sum_{i=0}^{len_q-1} clamp(i + len_k - len_q + 1, 0, len_k) pairs (= L(L+1)/2 when
  //! len_q = len_k = L); non-causal: len_q * len_k.
  double visible_pairs() const {
    double pairs = 0;
    for (std::size_t s = 0; s < lengths_q.size(); ++s) {
      const int64_t lq = lengths_q[s], lk = lengths_k[s];
      if (!causal) {
        pairs += double(lq) * double(lk);
        continue;
      }
      for (int64_t i = 0; i < lq; ++i) {
        const int64_t seen = i + lk - lq + 1;
        pairs += double(seen < 0 ? 0 : (seen > lk ? lk : seen));
      }
    }
    return pairs;
  }
  //! 2 FLOPs per multiply-add, two products (q·kᵀ and p·v) per pair, per q head and channel.
  double flops() const { return 4.0 * visible_pairs() * heads_q * head_dim; }
  //! q, k, v read once and o written once.
  double bytes(int element_size) const {
    return double(element_size) * head_dim *
           (2.0 * double(rows_q()) * heads_q + 2.0 * double(rows_k()) * heads_kv);
  }

 private:
  static int64_t sum(const std::vector<int32_t>& v) {
    int64_t total = 0;
    for (int32_t x : v) total += x;
    return total;
  }
};

namespace detail {

inline const json_value& member(const json_value& object, const std::string& key,
                                 const std::string& where) {
  const json_value* value = object.find(key);
  if (value == nullptr) throw std::runtime_error(where + ": missing \"" + key + "\"");
  return *value;
}

inline int32_t as_int(const json_value& v, const std::string& where, int64_t lo, int64_t hi) {
  if (v.type != json_value::kind::number || std::floor(v.number) != v.number ||
      v.number < double(lo) || v.number > double(hi)) {
    std::ostringstream out;
    out << where << " must be an integer in [" << lo << ", " << hi << "]";
    throw std::runtime_error(out.str());
  }
  return static_cast<int32_t>(v.number);
}

inline std::vector<int32_t> as_lengths(const json_value& v, const std::string& where) {
  if (v.type != json_value::kind::array) throw std::runtime_error(where + " must be an array");
  std::vector<int32_t> out;
  out.reserve(v.items.size());
  int64_t total = 0;
  for (std::size_t i = 0; i < v.items.size(); ++i) {
    out.push_back(as_int(v.items[i], where + "[" + std::to_string(i) + "]", 0, INT32_MAX));
    total += out.back();
  }
  if (total > INT32_MAX) throw std::runtime_error(where + ": total exceeds int32");
  return out;
}

}  // namespace detail

//! Parses the text of workloads.json; throws std::runtime_error naming the bad field.
inline std::vector<workload> parse_workloads(const std::string& text,
                                             const std::string& source = "workloads.json") {
  const json_value doc = parse_json(text, source);
  if (doc.type != json_value::kind::object) throw std::runtime_error(source + ": not an object");
  const int32_t schema = detail::as_int(detail::member(doc, "schema", source), source + ": schema", 1, 1);
  (void)schema;
  const json_value& list = detail::member(doc, "workloads", source);
  if (list.type != json_value::kind::array) throw std::runtime_error(source + ": workloads must be an array");
  std::vector<workload> out;
  for (std::size_t i = 0; i < list.items.size(); ++i) {
    const json_value& item = list.items[i];
    std::string where = source + ": workloads[" + std::to_string(i) + "]";
    if (item.type != json_value::kind::object) throw std::runtime_error(where + " must be an object");
    workload w;
    const json_value& name = detail::member(item, "name", where);
    if (name.type != json_value::kind::string || name.text.empty()) {
      throw std::runtime_error(where + ".name must be a non-empty string");
    }
    w.name = name.text;
    where += " (" + w.name + ")";
    if (const json_value* group = item.find("group"); group && group->type == json_value::kind::string) {
      w.group = group->text;
    }
    w.heads_q = detail::as_int(detail::member(item, "heads_q", where), where + ".heads_q", 1, 1 << 16);
    w.heads_kv = detail::as_int(detail::member(item, "heads_kv", where), where + ".heads_kv", 1, 1 << 16);
    w.head_dim = detail::as_int(detail::member(item, "head_dim", where), where + ".head_dim", 1, 1 << 16);
    if (const json_value* causal = item.find("causal")) {
      if (causal->type != json_value::kind::boolean) throw std::runtime_error(where + ".causal must be a boolean");
      w.causal = causal->boolean;
    }
    if (const json_value* layers = item.find("encoder_layers")) {
      w.encoder_layers = detail::as_int(*layers, where + ".encoder_layers", 0, 1 << 16);
    }
    w.lengths_q = detail::as_lengths(detail::member(item, "lengths", where), where + ".lengths");
    if (const json_value* lk = item.find("lengths_k")) {
      w.lengths_k = detail::as_lengths(*lk, where + ".lengths_k");
      if (w.lengths_k.size() != w.lengths_q.size()) {
        throw std::runtime_error(where + ": lengths_k has " + std::to_string(w.lengths_k.size()) +
                                 " entries but lengths has " + std::to_string(w.lengths_q.size()));
      }
    } else {
      w.lengths_k = w.lengths_q;
    }
    for (const workload& seen : out) {
      if (seen.name == w.name) throw std::runtime_error(where + ": duplicate name");
    }
    out.push_back(std::move(w));
  }
  return out;
}

inline std::vector<workload> load_workloads(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open workloads file '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_workloads(text.str(), path);
}

}  // namespace varattn_bench
