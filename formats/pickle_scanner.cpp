#include "formats/pickle_scanner.hpp"

#include <algorithm>
#include <array>
#include <unordered_map>
#include <unordered_set>

#include "formats/byte_reader.hpp"
#include "formats/pickle_text.hpp"

namespace modeld::formats {

namespace {

// The scanner runs a simplified unpickler: it keeps a value stack and memo so that
// STACK_GLOBAL and torch's tensor rebuild calls can be resolved, but it never imports or calls
// anything. Values live in an arena addressed by index, so memo aliasing and self-referencing
// containers cannot create ownership cycles, and traversal marks what it visited.
enum class kind : std::uint8_t {
  none, boolean, integer, big_integer, floating, string, bytes, tuple, list, dict, set,
  global, storage, call, tensor, opaque
};

struct value {
  kind type = kind::opaque;
  bool truncated = false;   // text was cut at max_kept_text
  std::int64_t number = 0;  // integer; storage/tensor index; global: module length
  std::string text;         // string; big int bytes; global "module" + "name"
  std::vector<std::uint32_t> items; // containers; call: callable, args, then set items
  std::uint32_t state = UINT32_MAX; // BUILD state of a call/object
};

// Longer strings are kept as a prefix: enough for keys and names, bounded for hostile input.
constexpr std::size_t max_kept_text = 4096;
constexpr std::uint32_t no_value = UINT32_MAX;
// torch tensors have at most 64 dimensions; longer size tuples are not tensor shapes.
constexpr std::size_t max_tensor_rank = 64;

// The shortest little-endian two's complement bytes of `n`, as pickle's LONG1 writes them.
std::string minimal_le(std::int64_t n) {
  std::string out;
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * i)) & 0xFF));
  while (out.size() > 1) {
    const auto last = static_cast<std::uint8_t>(out.back());
    const bool sign_of_previous = static_cast<std::uint8_t>(out[out.size() - 2]) & 0x80;
    if ((last == 0 && !sign_of_previous) || (last == 0xFF && sign_of_previous))
      out.pop_back();
    else
      break;
  }
  return out;
}

enum class outcome { stopped, failed };

class machine {
public:
  machine(std::span<const std::uint8_t> bytes, issue_sink& issues,
          const pickle_scan_options& options, pickle_scan_result& result)
    : bytes_(bytes), issues_(issues), options_(options), result_(result) {
  }

  // Runs the pickle that starts at `start`. Structural problems are reported as errors when
  // `strict`, else remembered in failure_ for the caller to summarise.
  outcome run(std::uint64_t start, bool strict) {
    strict_ = strict;
    failure_.clear();
    failure_code_ = {};
    stack_.clear();
    marks_.clear();
    memo_.clear();
    begin_ = start;
    byte_reader in(bytes_.subspan(start), options_.base_offset + start);
    while (true) {
      if (++ops_ > options_.max_ops)
        return limit("more than " + std::to_string(options_.max_ops) + " opcodes");
      op_offset_ = in.file_offset();
      const auto op = in.read<std::uint8_t>();
      if (!op)
        return fail("PICKLE_TRUNCATED", "pickle ends before its STOP opcode");
      if (*op == '.') {
        const auto root = pop();
        if (root == no_value)
          return outcome::failed;
        finish(root, start, start + in.position());
        end_ = start + in.position();
        return outcome::stopped;
      }
      if (!step(*op, in))
        return outcome::failed;
    }
  }

  std::uint64_t end() const noexcept { return end_; }
  const std::string& failure() const noexcept { return failure_; }
  // The code of the first structural failure of a non-strict run; empty after a limit.
  std::string_view failure_code() const noexcept { return failure_code_; }
  std::size_t ops() const noexcept { return ops_; }

private:
  // ---- reporting ----
  std::string where() const {
    return options_.origin.empty() ? std::string() : options_.origin + ": ";
  }

  outcome fail(std::string_view code, std::string message) {
    if (strict_)
      issues_.error(code, where() + message, at_offset(op_offset_));
    else if (failure_.empty()) {
      failure_ = message;
      failure_code_ = code;
    }
    return outcome::failed;
  }
  bool failed(std::string_view code, std::string message) {
    fail(code, std::move(message));
    return false;
  }
  outcome limit(std::string message) {
    // Limits are errors even in trailing data: what was not scanned cannot be called safe.
    issues_.error("PICKLE_LIMIT_EXCEEDED", where() + message, at_offset(op_offset_));
    failure_ = "limit";
    return outcome::failed;
  }

  // ---- arena and stack ----
  std::uint32_t make(value v) {
    if (values_.size() >= options_.max_values) {
      limit("more than " + std::to_string(options_.max_values) + " values");
      return no_value;
    }
    values_.push_back(std::move(v));
    return static_cast<std::uint32_t>(values_.size() - 1);
  }

  bool push(std::uint32_t id) {
    if (id == no_value)
      return false;
    if (stack_.size() >= options_.max_stack) {
      limit("stack deeper than " + std::to_string(options_.max_stack));
      return false;
    }
    stack_.push_back(id);
    return true;
  }

  bool push_new(value v) { return push(make(std::move(v))); }

  std::size_t floor() const noexcept { return marks_.empty() ? 0 : marks_.back(); }

  // Pops one value; CPython cannot pop below the current mark either.
  std::uint32_t pop() {
    if (stack_.size() <= floor()) {
      fail("PICKLE_STACK_UNDERFLOW", "opcode pops from an empty stack");
      return no_value;
    }
    const auto id = stack_.back();
    stack_.pop_back();
    return id;
  }

  std::uint32_t top() {
    if (stack_.size() <= floor()) {
      fail("PICKLE_STACK_UNDERFLOW", "opcode needs a value on an empty stack");
      return no_value;
    }
    return stack_.back();
  }

  std::optional<std::vector<std::uint32_t>> pop_mark() {
    if (marks_.empty()) {
      fail("PICKLE_MARK_MISSING", "opcode needs a MARK that was never pushed");
      return std::nullopt;
    }
    const auto mark = marks_.back();
    marks_.pop_back();
    std::vector<std::uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark),
                                     stack_.end());
    stack_.resize(mark);
    return items;
  }

  // ---- memo ----
  bool memo_put(std::uint64_t index) {
    const auto id = top();
    if (id == no_value)
      return false;
    if (memo_.size() >= options_.max_memo && !memo_.contains(index)) {
      limit("memo larger than " + std::to_string(options_.max_memo));
      return false;
    }
    memo_[index] = id;
    return true;
  }

  bool memo_get(std::uint64_t index) {
    const auto found = memo_.find(index);
    if (found == memo_.end())
      return failed("PICKLE_MEMO_MISSING", "memo index " + std::to_string(index) + " was never set");
    return push(found->second);
  }

  // ---- argument readers ----
  std::optional<std::string_view> line(byte_reader& in) {
    const auto rest = in.remaining();
    const auto* data = bytes_.data() + begin_ + in.position();
    const void* nl = std::memchr(data, '\n', rest);
    if (nl == nullptr) {
      fail("PICKLE_TRUNCATED", "line argument has no terminating newline");
      return std::nullopt;
    }
    const auto length = static_cast<std::uint64_t>(static_cast<const std::uint8_t*>(nl) - data);
    auto text = in.read_string(length);
    in.skip(1);
    return text;
  }

  template <class T>
  std::optional<T> fixed(byte_reader& in) {
    auto v = in.read<T>();
    if (!v)
      fail("PICKLE_TRUNCATED", "opcode argument runs past the end");
    return v;
  }

  std::optional<std::string_view> counted(byte_reader& in, std::uint64_t length) {
    auto text = in.read_string(length);
    if (!text)
      fail("PICKLE_TRUNCATED", "length " + std::to_string(length) + " runs past the end");
    return text;
  }

  static value of(kind type, bool truncated = false) {
    value v;
    v.type = type;
    v.truncated = truncated;
    return v;
  }

  static value text_value(kind type, std::string_view text) {
    value v;
    v.type = type;
    v.truncated = text.size() > max_kept_text;
    v.text.assign(text.substr(0, max_kept_text));
    return v;
  }

  // ---- globals ----
  bool global(std::string_view module, std::string_view name, bool truncated = false) {
    value v;
    v.type = kind::global;
    v.truncated = truncated || module.size() > max_kept_text || name.size() > max_kept_text;
    v.number = static_cast<std::int64_t>(std::min(module.size(), max_kept_text));
    v.text.assign(module.substr(0, max_kept_text));
    v.text.append(name.substr(0, max_kept_text));
    record_global(module, name);
    return push_new(std::move(v));
  }

  void record_global(std::string_view module, std::string_view name) {
    // Real module paths are short; cut absurd ones so a huge GLOBAL line is not copied around.
    // Deny-list matching is by prefix, so a cut name that starts like `os.` stays unsafe.
    module = module.substr(0, max_kept_text);
    name = name.substr(0, max_kept_text);
    std::string qualified;
    qualified.append(module).append(".").append(name);
    if (!seen_globals_.insert(qualified).second)
      return;
    const auto safety = classify_global(module, name, options_.torchscript);
    result_.globals.push_back({std::string(module), std::string(name), safety, op_offset_});
    // Refused like torch's weights_only unpickler refuses it: what is not known to be weights
    // may be code, whether or not it is a published gadget yet.
    if (safety == global_safety::unsafe)
      issues_.error("PICKLE_UNSAFE_GLOBAL",
                    where() + "imports " + qualified + ", a known code-execution gadget",
                    at_offset(op_offset_));
    else if (safety == global_safety::unlisted)
      issues_.error("PICKLE_UNLISTED_GLOBAL",
                    where() + "imports " + qualified +
                      ", which is not on the allow list of what weight files reference",
                    at_offset(op_offset_));
  }

  bool is_global(std::uint32_t id, std::string_view module, std::string_view name) const {
    if (id >= values_.size() || values_[id].type != kind::global || values_[id].truncated)
      return false;
    const auto& v = values_[id];
    const auto split = static_cast<std::size_t>(v.number);
    return std::string_view(v.text).substr(0, split) == module &&
           std::string_view(v.text).substr(split) == name;
  }

  bool stack_global() {
    const auto name = pop();
    if (name == no_value)
      return false;
    const auto module = pop();
    if (module == no_value)
      return false;
    const auto& m = values_[module];
    const auto& n = values_[name];
    if (m.type != kind::string || n.type != kind::string || m.truncated || n.truncated) {
      // Whatever it would import cannot be known here, so it counts as dangerous.
      issues_.error("PICKLE_UNRESOLVED_GLOBAL",
                    where() + "STACK_GLOBAL operands are not two known strings",
                    at_offset(op_offset_));
      return push_new(of(kind::global, true));
    }
    const std::string module_text = m.text;
    const std::string name_text = n.text;
    return global(module_text, name_text);
  }

  // ---- torch ----
  std::optional<std::vector<std::uint64_t>> int_tuple(std::uint32_t id) const {
    if (id >= values_.size() || (values_[id].type != kind::tuple && values_[id].type != kind::list) ||
        values_[id].items.size() > max_tensor_rank)
      return std::nullopt;
    std::vector<std::uint64_t> out;
    for (auto item : values_[id].items) {
      const auto& v = values_[item];
      if (v.type != kind::integer || v.number < 0)
        return std::nullopt;
      out.push_back(static_cast<std::uint64_t>(v.number));
    }
    return out;
  }

  const value* string_at(const std::vector<std::uint32_t>& items, std::size_t i) const {
    if (i >= items.size() || values_[items[i]].type != kind::string)
      return nullptr;
    return &values_[items[i]];
  }

  // BINPERSID with torch's ('storage', storage_type, key, location, numel[, view]).
  bool persistent_load(std::uint32_t pid) {
    const auto& p = values_[pid];
    if (p.type == kind::tuple && p.items.size() >= 5) {
      const auto* tag = string_at(p.items, 0);
      const auto& type = values_[p.items[1]];
      const auto* key = string_at(p.items, 2);
      const auto* location = string_at(p.items, 3);
      const auto& numel = values_[p.items[4]];
      if (tag != nullptr && tag->text == "storage" && type.type == kind::global && key != nullptr &&
          location != nullptr && numel.type == kind::integer && numel.number >= 0) {
        const auto storage_type = type.text.substr(static_cast<std::size_t>(type.number));
        const auto index = storage_index(key->text, storage_type, location->text,
                                         static_cast<std::uint64_t>(numel.number));
        value v;
        v.type = kind::storage;
        v.number = static_cast<std::int64_t>(index);
        return push_new(std::move(v));
      }
    }
    issues_.warning("PICKLE_UNKNOWN_PERSISTENT_ID",
                    where() + "persistent id is not a torch storage reference",
                    at_offset(op_offset_));
    return push_new(of(kind::opaque));
  }

  std::size_t storage_index(const std::string& key, const std::string& storage_type,
                            const std::string& location, std::uint64_t numel) {
    if (auto found = storage_by_key_.find(key); found != storage_by_key_.end()) {
      const auto& known = result_.storages[found->second];
      if (known.storage_type != storage_type || known.numel != numel)
        issues_.warning("TORCH_STORAGE_CONFLICT",
                        where() + "storage \"" + key + "\" is described twice differently",
                        at_offset(op_offset_));
      return found->second;
    }
    pickle_storage s;
    s.key = key;
    s.storage_type = storage_type;
    s.dtype = storage_dtype(storage_type).value_or("unknown");
    s.location = location;
    s.numel = numel;
    result_.storages.push_back(std::move(s));
    storage_by_key_.emplace(key, result_.storages.size() - 1);
    return result_.storages.size() - 1;
  }

  // Returns the tensor index a rebuild call produces, or -1.
  std::int64_t rebuild(std::uint32_t callable, std::uint32_t args) {
    if (args >= values_.size() || values_[args].type != kind::tuple)
      return -1;
    // rebuild() adds no values, so the reference stays valid; copying here would let one
    // memoized huge tuple be copied on every REDUCE.
    const auto& items = values_[args].items;
    const bool tensor_v2 = is_global(callable, "torch._utils", "_rebuild_tensor_v2") ||
                           is_global(callable, "torch._utils", "_rebuild_tensor") ||
                           is_global(callable, "torch._utils", "_rebuild_qtensor");
    if (tensor_v2) {
      if (items.size() < 4 || values_[items[0]].type != kind::storage ||
          values_[items[1]].type != kind::integer || values_[items[1]].number < 0) {
        issues_.warning("TORCH_MALFORMED_TENSOR",
                        where() + "tensor rebuild call has unexpected arguments",
                        at_offset(op_offset_));
        return -1;
      }
      const auto shape = int_tuple(items[2]);
      const auto stride = int_tuple(items[3]);
      if (!shape || !stride) {
        issues_.warning("TORCH_MALFORMED_TENSOR",
                        where() + "tensor size or stride is not a tuple of integers",
                        at_offset(op_offset_));
        return -1;
      }
      const auto& storage = result_.storages[static_cast<std::size_t>(values_[items[0]].number)];
      pickle_tensor t;
      t.dtype = storage.dtype;
      t.shape = *shape;
      t.stride = *stride;
      t.storage_key = storage.key;
      t.storage_offset = static_cast<std::uint64_t>(values_[items[1]].number);
      result_.tensors.push_back(std::move(t));
      return static_cast<std::int64_t>(result_.tensors.size() - 1);
    }
    // nn.Parameter(tensor, ...) and tensor subclasses wrap a tensor built above.
    if (is_global(callable, "torch._utils", "_rebuild_parameter") ||
        is_global(callable, "torch._utils", "_rebuild_parameter_with_state")) {
      if (!items.empty() && values_[items[0]].type == kind::tensor)
        return values_[items[0]].number;
      return -1;
    }
    if (is_global(callable, "torch._tensor", "_rebuild_from_type_v2") && items.size() >= 3)
      return rebuild(items[0], items[2]);
    return -1;
  }

  bool reduce(std::uint32_t callable, std::uint32_t args) {
    const auto tensor = rebuild(callable, args);
    value v;
    if (tensor >= 0) {
      v.type = kind::tensor;
      v.number = tensor;
    } else {
      v.type = kind::call;
      v.items = {callable, args};
    }
    return push_new(std::move(v));
  }

  // ---- naming ----
  void finish(std::uint32_t root, std::uint64_t begin, std::uint64_t end) {
    visited_.assign(values_.size(), false);
    std::string path;
    name_tensors(root, path, 0);
    for (std::size_t i = named_upto_; i < result_.tensors.size(); ++i)
      if (result_.tensors[i].name.empty())
        result_.tensors[i].name = "<unnamed:" + std::to_string(i) + ">";
    named_upto_ = result_.tensors.size();

    pickle_root summary;
    summary.begin = options_.base_offset + begin;
    summary.end = options_.base_offset + end;
    const auto& r = values_[root];
    if (r.type == kind::integer) {
      summary.type = pickle_root::kind::integer;
      summary.integer_le = minimal_le(r.number);
    } else if (r.type == kind::big_integer) {
      summary.type = pickle_root::kind::integer;
      summary.integer_le = r.text;
    } else if (r.type == kind::list) {
      summary.type = pickle_root::kind::string_list;
      for (auto item : r.items) {
        if (values_[item].type != kind::string) {
          summary.type = pickle_root::kind::other;
          summary.strings.clear();
          break;
        }
        summary.strings.push_back(values_[item].text);
      }
    }
    result_.roots.push_back(std::move(summary));
  }

  std::string key_text(std::uint32_t id) const {
    const auto& v = values_[id];
    if (v.type == kind::string)
      return v.text;
    if (v.type == kind::integer)
      return std::to_string(v.number);
    return "?";
  }

  void name_pairs(const std::vector<std::uint32_t>& items, std::size_t from, std::string& path,
                  std::size_t depth) {
    for (std::size_t i = from; i + 1 < items.size(); i += 2)
      name_child(items[i + 1], key_text(items[i]), path, depth);
  }

  void name_child(std::uint32_t id, const std::string& key, std::string& path, std::size_t depth) {
    const auto length = path.size();
    if (!path.empty())
      path.push_back('.');
    path += key;
    name_tensors(id, path, depth + 1);
    path.resize(length);
  }

  void name_tensors(std::uint32_t id, std::string& path, std::size_t depth) {
    if (id >= values_.size() || depth > options_.max_name_depth || visited_[id])
      return;
    visited_[id] = true;
    const auto& v = values_[id];
    switch (v.type) {
      case kind::tensor: {
        auto& t = result_.tensors[static_cast<std::size_t>(v.number)];
        if (t.name.empty())
          t.name = path;
        break;
      }
      case kind::dict: name_pairs(v.items, 0, path, depth); break;
      case kind::call:
        // An OrderedDict (or other reduced mapping) filled by SETITEMS; an object's BUILD state.
        name_pairs(v.items, 2, path, depth);
        if (v.state != no_value)
          name_tensors(v.state, path, depth + 1);
        break;
      case kind::list:
      case kind::tuple:
        for (std::size_t i = 0; i < v.items.size(); ++i)
          name_child(v.items[i], std::to_string(i), path, depth);
        break;
      default: break;
    }
  }

  // ---- the opcode table ----
  bool container_from_mark(kind type) {
    auto items = pop_mark();
    if (!items)
      return false;
    if (type == kind::dict && items->size() % 2 != 0)
      return failed("PICKLE_STACK_UNDERFLOW", "DICT with an odd number of items");
    value v;
    v.type = type;
    v.items = std::move(*items);
    return push_new(std::move(v));
  }

  bool add_to_top(std::vector<std::uint32_t> items, bool pairs) {
    if (pairs && items.size() % 2 != 0)
      return failed("PICKLE_STACK_UNDERFLOW", "SETITEMS with an odd number of items");
    const auto target = top();
    if (target == no_value)
      return false;
    auto& t = values_[target];
    if (t.type == kind::list || t.type == kind::dict || t.type == kind::set || t.type == kind::call)
      t.items.insert(t.items.end(), items.begin(), items.end());
    return true;
  }

  bool integer(std::int64_t n) {
    value v;
    v.type = kind::integer;
    v.number = n;
    return push_new(std::move(v));
  }

  // LONG1/LONG4 payloads are little-endian two's complement; up to 8 bytes fit an int64.
  bool big_integer(std::string_view raw) {
    if (raw.size() > 8)
      return push_new(text_value(kind::big_integer, raw));
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < raw.size(); ++i)
      n |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(raw[i])) << (8 * i);
    if (!raw.empty() && raw.size() < 8 && (static_cast<std::uint8_t>(raw.back()) & 0x80))
      n |= ~0ULL << (8 * raw.size()); // sign-extend
    return integer(static_cast<std::int64_t>(n));
  }

  bool step(std::uint8_t op, byte_reader& in) {
    switch (op) {
      case '(': marks_.push_back(stack_.size()); return true;
      case '0': // POP: CPython pops the mark itself when the stack above it is empty
        if (stack_.size() <= floor() && !marks_.empty()) {
          marks_.pop_back();
          return true;
        }
        return pop() != no_value;
      case '1': return pop_mark().has_value();
      case '2': { const auto id = top(); return id != no_value && push(id); }
      case 'F': return line(in) && push_new(of(kind::floating));
      case 'G': return fixed<double>(in) && push_new(of(kind::floating));
      case 'I': {
        const auto text = line(in);
        if (!text)
          return false;
        if (*text == "00" || *text == "01") {
          value v = of(kind::boolean);
          v.number = *text == "01";
          return push_new(std::move(v));
        }
        const auto n = parse_decimal_int(*text, false);
        return n ? integer(*n) : push_new(text_value(kind::big_integer, *text));
      }
      case 'L': {
        const auto text = line(in);
        if (!text)
          return false;
        const auto n = parse_decimal_int(*text, true);
        return n ? integer(*n) : push_new(text_value(kind::big_integer, *text));
      }
      case 'J': { const auto n = fixed<std::int32_t>(in); return n && integer(*n); }
      case 'K': { const auto n = fixed<std::uint8_t>(in); return n && integer(*n); }
      case 'M': { const auto n = fixed<std::uint16_t>(in); return n && integer(*n); }
      case 0x8a: { // LONG1
        const auto n = fixed<std::uint8_t>(in);
        if (!n)
          return false;
        const auto raw = counted(in, *n);
        return raw && big_integer(*raw);
      }
      case 0x8b: { // LONG4
        const auto n = fixed<std::int32_t>(in);
        if (!n)
          return false;
        if (*n < 0)
          return failed("PICKLE_INVALID_ARGUMENT", "LONG4 with a negative byte count");
        const auto raw = counted(in, static_cast<std::uint64_t>(*n));
        return raw && big_integer(*raw);
      }
      case 'N': return push_new(of(kind::none));
      case 0x88: { value v = of(kind::boolean); v.number = 1; return push_new(std::move(v)); }
      case 0x89: return push_new(of(kind::boolean));
      case 'P': return line(in) && push_new(of(kind::opaque)); // PERSID: torch uses BINPERSID
      case 'Q': { const auto pid = pop(); return pid != no_value && persistent_load(pid); }
      case 'R': {
        const auto args = pop();
        if (args == no_value)
          return false;
        const auto callable = pop();
        return callable != no_value && reduce(callable, args);
      }
      case 'S': {
        const auto text = line(in);
        if (!text)
          return false;
        const auto decoded = decode_string_opcode(*text);
        if (!decoded)
          return failed("PICKLE_INVALID_ARGUMENT", "STRING argument is not a quoted literal");
        return push_new(text_value(kind::string, *decoded));
      }
      case 'T': {
        const auto n = fixed<std::int32_t>(in);
        if (!n)
          return false;
        if (*n < 0)
          return failed("PICKLE_INVALID_ARGUMENT", "BINSTRING with a negative length");
        const auto s = counted(in, static_cast<std::uint64_t>(*n));
        return s && push_new(text_value(kind::string, *s));
      }
      case 'U': {
        const auto n = fixed<std::uint8_t>(in);
        const auto s = n ? counted(in, *n) : std::nullopt;
        return s && push_new(text_value(kind::string, *s));
      }
      case 'V': {
        const auto text = line(in);
        if (!text)
          return false;
        const auto decoded = decode_raw_unicode_escape(*text);
        if (!decoded)
          return failed("PICKLE_INVALID_ARGUMENT", "UNICODE argument has a bad escape");
        return push_new(text_value(kind::string, *decoded));
      }
      case 'X': {
        const auto n = fixed<std::uint32_t>(in);
        const auto s = n ? counted(in, *n) : std::nullopt;
        return s && push_new(text_value(kind::string, *s));
      }
      case 0x8c: { // SHORT_BINUNICODE
        const auto n = fixed<std::uint8_t>(in);
        const auto s = n ? counted(in, *n) : std::nullopt;
        return s && push_new(text_value(kind::string, *s));
      }
      case 0x8d: { // BINUNICODE8
        const auto n = fixed<std::uint64_t>(in);
        const auto s = n ? counted(in, *n) : std::nullopt;
        return s && push_new(text_value(kind::string, *s));
      }
      case 'B': { // BINBYTES: contents are never needed, only skipped
        const auto n = fixed<std::uint32_t>(in);
        return n && counted(in, *n) && push_new(of(kind::bytes));
      }
      case 'C': {
        const auto n = fixed<std::uint8_t>(in);
        return n && counted(in, *n) && push_new(of(kind::bytes));
      }
      case 0x8e:   // BINBYTES8
      case 0x96: { // BYTEARRAY8
        const auto n = fixed<std::uint64_t>(in);
        return n && counted(in, *n) && push_new(of(kind::bytes));
      }
      case 'a': {
        const auto item = pop();
        return item != no_value && add_to_top({item}, false);
      }
      case 'e': { auto items = pop_mark(); return items && add_to_top(std::move(*items), false); }
      case 0x90: { auto items = pop_mark(); return items && add_to_top(std::move(*items), false); }
      case 'b': { // BUILD
        const auto state = pop();
        if (state == no_value)
          return false;
        const auto target = top();
        if (target == no_value)
          return false;
        if (values_[target].type == kind::call)
          values_[target].state = state;
        return true;
      }
      case 'c': case 'i': { // GLOBAL, INST
        const auto module = line(in);
        if (!module)
          return false;
        const auto name = line(in);
        if (!name)
          return false;
        if (op == 'c')
          return global(*module, *name);
        if (!global(*module, *name))
          return false;
        const auto cls = pop();
        auto args = pop_mark();
        if (!args)
          return false;
        value t = of(kind::tuple);
        t.items = std::move(*args);
        const auto args_id = make(std::move(t));
        return args_id != no_value && reduce(cls, args_id);
      }
      case 0x93: return stack_global();
      case 'd': return container_from_mark(kind::dict);
      case '}': return push_new(of(kind::dict));
      case 's': {
        const auto v = pop();
        if (v == no_value)
          return false;
        const auto k = pop();
        return k != no_value && add_to_top({k, v}, true);
      }
      case 'u': { auto items = pop_mark(); return items && add_to_top(std::move(*items), true); }
      case 'l': return container_from_mark(kind::list);
      case ']': return push_new(of(kind::list));
      case 't': return container_from_mark(kind::tuple);
      case ')': return push_new(of(kind::tuple));
      case 0x85: case 0x86: case 0x87: { // TUPLE1..3
        const std::size_t n = op - 0x84u;
        if (stack_.size() < floor() + n)
          return failed("PICKLE_STACK_UNDERFLOW", "TUPLE" + std::to_string(n) + " on a short stack");
        value v = of(kind::tuple);
        v.items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
        stack_.resize(stack_.size() - n);
        return push_new(std::move(v));
      }
      case 0x8f: return push_new(of(kind::set));
      case 0x91: return container_from_mark(kind::set);
      case 'o': { // OBJ: class and args above a mark
        auto items = pop_mark();
        if (!items)
          return false;
        if (items->empty())
          return failed("PICKLE_STACK_UNDERFLOW", "OBJ without a class");
        value t = of(kind::tuple);
        t.items.assign(items->begin() + 1, items->end());
        const auto args_id = make(std::move(t));
        return args_id != no_value && reduce(items->front(), args_id);
      }
      case 0x81: { // NEWOBJ
        const auto args = pop();
        if (args == no_value)
          return false;
        const auto cls = pop();
        return cls != no_value && reduce(cls, args);
      }
      case 0x92: { // NEWOBJ_EX
        if (pop() == no_value)
          return false;
        const auto args = pop();
        if (args == no_value)
          return false;
        const auto cls = pop();
        return cls != no_value && reduce(cls, args);
      }
      case 'g': {
        const auto text = line(in);
        if (!text)
          return false;
        const auto n = parse_decimal_int(*text, false);
        if (!n || *n < 0)
          return failed("PICKLE_INVALID_ARGUMENT", "GET index is not a non-negative integer");
        return memo_get(static_cast<std::uint64_t>(*n));
      }
      case 'h': { const auto n = fixed<std::uint8_t>(in); return n && memo_get(*n); }
      case 'j': { const auto n = fixed<std::uint32_t>(in); return n && memo_get(*n); }
      case 'p': {
        const auto text = line(in);
        if (!text)
          return false;
        const auto n = parse_decimal_int(*text, false);
        if (!n || *n < 0)
          return failed("PICKLE_INVALID_ARGUMENT", "PUT index is not a non-negative integer");
        return memo_put(static_cast<std::uint64_t>(*n));
      }
      case 'q': { const auto n = fixed<std::uint8_t>(in); return n && memo_put(*n); }
      case 'r': { const auto n = fixed<std::uint32_t>(in); return n && memo_put(*n); }
      case 0x94: return memo_put(memo_.size()); // MEMOIZE
      case 0x80: { // PROTO
        const auto n = fixed<std::uint8_t>(in);
        if (!n)
          return false;
        if (*n > 5)
          return failed("PICKLE_UNSUPPORTED_PROTOCOL",
                        "pickle protocol " + std::to_string(*n) + " is newer than 5");
        result_.highest_protocol = std::max(result_.highest_protocol, static_cast<int>(*n));
        return true;
      }
      case 0x95: { // FRAME: framing only groups opcodes, but its length must be present
        const auto n = fixed<std::uint64_t>(in);
        if (!n)
          return false;
        if (*n > in.remaining())
          return failed("PICKLE_TRUNCATED", "FRAME longer than the remaining bytes");
        return true;
      }
      case 0x82: case 0x83: case 0x84: { // EXT1, EXT2, EXT4
        const bool ok = op == 0x82 ? fixed<std::uint8_t>(in).has_value()
                        : op == 0x83 ? fixed<std::uint16_t>(in).has_value()
                                     : fixed<std::int32_t>(in).has_value();
        if (!ok)
          return false;
        issues_.warning("PICKLE_EXTENSION_CODE",
                        where() + "imports a callable through the copyreg extension registry",
                        at_offset(op_offset_));
        return push_new(of(kind::global, true));
      }
      case 0x97: // NEXT_BUFFER
        issues_.warning("PICKLE_OUT_OF_BAND_BUFFER",
                        where() + "pickle expects out-of-band buffers", at_offset(op_offset_));
        return push_new(of(kind::opaque));
      case 0x98: return top() != no_value; // READONLY_BUFFER
      default: {
        static constexpr char hex[] = "0123456789abcdef";
        return failed("PICKLE_UNKNOWN_OPCODE",
                      std::string("unknown opcode 0x") + hex[op >> 4] + hex[op & 15]);
      }
    }
  }

  std::span<const std::uint8_t> bytes_;
  issue_sink& issues_;
  const pickle_scan_options& options_;
  pickle_scan_result& result_;

  std::vector<value> values_;
  std::vector<std::uint32_t> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, std::uint32_t> memo_;
  std::unordered_map<std::string, std::size_t> storage_by_key_;
  std::unordered_set<std::string> seen_globals_;
  std::vector<bool> visited_;
  std::size_t named_upto_ = 0;
  std::size_t ops_ = 0;
  std::uint64_t begin_ = 0;
  std::uint64_t end_ = 0;
  std::uint64_t op_offset_ = 0;
  bool strict_ = true;
  std::string failure_;
  std::string_view failure_code_; // always a string literal
};

bool is_identifier_char(std::uint8_t c, bool first) noexcept {
  // Bytes >= 0x80 belong to UTF-8 letters, which Python identifiers may hold.
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80 ||
         (!first && c >= '0' && c <= '9');
}

bool is_dotted_identifier(std::string_view text) noexcept {
  bool first = true;
  for (const auto c : text) {
    if (c == '.' && !first) {
      first = true;
      continue;
    }
    if (!is_identifier_char(static_cast<std::uint8_t>(c), first))
      return false;
    first = false;
  }
  return !first;
}

// Protocols 0 and 1 have no PROTO marker. A prefix counts as one when it opens the way a
// pickled model's top-level object does (MARK, EMPTY_DICT, EMPTY_LIST or GLOBAL), its opcodes
// run to STOP or to the end of the prefix without a structural error, and it imports only
// Python names: text seldom survives that ("(c) 2024 Acme\n..." would import ") 2024 Acme").
bool looks_like_unmarked_pickle(std::span<const std::uint8_t> bytes) {
  if (bytes.empty() || (bytes[0] != '(' && bytes[0] != '}' && bytes[0] != ']' && bytes[0] != 'c'))
    return false;
  const auto window = bytes.first(std::min(bytes.size(), pickle_sniff_bytes));
  issue_sink ignored;
  pickle_scan_options options;
  options.max_pickles = 1;
  pickle_scan_result result;
  machine m(window, ignored, options, result);
  const bool stopped = m.run(0, false) == outcome::stopped;
  for (const auto& g : result.globals)
    if (!is_dotted_identifier(g.module) || !is_dotted_identifier(g.name))
      return false;
  if (stopped)
    return true;
  // Cut off by the end of the prefix: enough opcodes ran (ops() counts the one cut off), or a
  // whole GLOBAL of Python names did, which a long first module name may leave room for alone.
  return m.failure_code() == "PICKLE_TRUNCATED" && (m.ops() > 3 || !result.globals.empty());
}

} // namespace

bool looks_like_pickle(std::span<const std::uint8_t> bytes) noexcept {
  if (bytes.size() >= 2 && bytes[0] == 0x80 && bytes[1] <= 5)
    return true;
  try {
    return looks_like_unmarked_pickle(bytes);
  } catch (...) { // out of memory while sniffing: not identified, never thrown
    return false;
  }
}

std::optional<std::string> storage_dtype(std::string_view storage_type) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 17> table{{
    {"FloatStorage", "F32"}, {"DoubleStorage", "F64"}, {"HalfStorage", "F16"},
    {"BFloat16Storage", "BF16"}, {"LongStorage", "I64"}, {"IntStorage", "I32"},
    {"ShortStorage", "I16"}, {"CharStorage", "I8"}, {"ByteStorage", "U8"},
    {"BoolStorage", "BOOL"}, {"ComplexFloatStorage", "C64"}, {"ComplexDoubleStorage", "C128"},
    {"QInt8Storage", "QINT8"}, {"QUInt8Storage", "QUINT8"}, {"QInt32Storage", "QINT32"},
    {"QUInt4x2Storage", "QUINT4X2"}, {"UntypedStorage", "U8"},
  }};
  for (const auto& [name, dtype] : table)
    if (name == storage_type)
      return std::string(dtype);
  if (storage_type == "QUInt2x4Storage")
    return std::string("QUINT2X4");
  return std::nullopt;
}

pickle_scan_result scan_pickle(std::span<const std::uint8_t> bytes, issue_sink& issues,
                               const pickle_scan_options& options) {
  pickle_scan_result result;
  if (bytes.empty()) {
    issues.error("PICKLE_EMPTY", options.origin.empty() ? "no pickle data" : options.origin + ": no pickle data",
                 at_offset(options.base_offset));
    return result;
  }
  machine m(bytes, issues, options, result);
  std::uint64_t position = 0;
  std::size_t count = 0;
  while (position < bytes.size() && count < options.max_pickles) {
    const bool first = count == 0;
    if (m.run(position, first) != outcome::stopped) {
      if (!first && m.failure() != "limit")
        issues.warning("PICKLE_TRAILING_DATA",
                       (options.origin.empty() ? std::string() : options.origin + ": ") +
                         std::to_string(bytes.size() - position) +
                         " bytes after the last pickle do not form a pickle (" + m.failure() + ")",
                       at_offset(options.base_offset + position));
      break;
    }
    if (first)
      result.well_formed = true;
    ++count;
    position = m.end();
    result.consumed = position;
  }
  return result;
}

} // namespace modeld::formats
