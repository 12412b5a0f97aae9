#include "catalog/discovery.hpp"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>

using namespace modeld::catalog;
namespace fs = std::filesystem;

namespace {

// A fresh, canonical directory per test, removed afterwards.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "discovery_test.XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = fs::canonical(pattern);
  }
  ~temp_dir() {
    std::error_code ignored;
    for (const auto& entry : fs::recursive_directory_iterator(path, ignored)) // chmod 000 leftovers
      if (entry.is_directory(ignored) && !entry.is_symlink(ignored))
        fs::permissions(entry.path(), fs::perms::owner_all, ignored);
    fs::remove_all(path, ignored);
  }
  // A subdirectory, created; its canonical path as a string.
  std::string dir(const std::string& name) const {
    fs::create_directories(path / name);
    return (path / name).string();
  }
};

void write_bytes(const fs::path& file, const std::string& bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// A complete safetensors file without tensors: 8-byte little-endian header length, then the
// JSON header padded with spaces, as the reference writer pads to 8 bytes.
std::string safetensors_bytes(std::size_t header_length = 16) {
  std::string header = "{}";
  header.resize(header_length, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return out + header;
}

// GGUF v3 with no tensors and no metadata.
std::string gguf_bytes() {
  std::string out = "GGUF";
  out += std::string("\x03\x00\x00\x00", 4);
  out += std::string(16, '\0');
  return out;
}

void write_safetensors(const fs::path& file, std::size_t header_length = 16) {
  write_bytes(file, safetensors_bytes(header_length));
}

void write_gguf(const fs::path& file) {
  write_bytes(file, gguf_bytes());
}

void link(const fs::path& target, const fs::path& link_path) {
  fs::create_directories(link_path.parent_path());
  fs::create_symlink(target, link_path);
}

void set_mtime(const fs::path& file, std::int64_t seconds, long nanoseconds) {
  const struct timespec times[2] = {{seconds, nanoseconds}, {seconds, nanoseconds}};
  REQUIRE(::utimensat(AT_FDCWD, file.c_str(), times, 0) == 0);
}

// What the catalog would have recorded for the file after a scan.
known_file known_as(const std::string& root, const fs::path& file) {
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  return known_file{root, static_cast<std::uint64_t>(st.st_size),
                    static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

std::vector<std::string> changed_ids(const discovery_result& result) {
  std::vector<std::string> ids;
  for (const auto& file : result.changed)
    ids.push_back(file.model_id);
  return ids;
}

const discovered_file* changed(const discovery_result& result, const std::string& model_id) {
  for (const auto& file : result.changed)
    if (file.model_id == model_id)
      return &file;
  return nullptr;
}

std::vector<std::string> error_codes(const discovery_result& result) {
  std::vector<std::string> codes;
  for (const auto& error : result.errors)
    codes.push_back(error.code);
  return codes;
}

const scan_error* error_for(const discovery_result& result, const std::string& path) {
  for (const auto& error : result.errors)
    if (error.path == path)
      return &error;
  return nullptr;
}

std::map<std::string, known_file> known_from(const discovery_result& result) {
  std::map<std::string, known_file> known;
  for (const auto& file : result.changed)
    known[file.model_id] = known_file{file.root, file.size_bytes, file.mtime_ns};
  return known;
}

resolved_path resolved(const std::variant<resolved_path, scan_error>& result) {
  if (const auto* error = std::get_if<scan_error>(&result))
    FAIL("unexpected " << error->code << ": " << error->message);
  return std::get<resolved_path>(result);
}

scan_error refused(const std::variant<resolved_path, scan_error>& result) {
  if (const auto* path = std::get_if<resolved_path>(&result))
    FAIL("unexpectedly resolved to " << path->path);
  return std::get<scan_error>(result);
}

using ids = std::vector<std::string>;

} // namespace

TEST_CASE("model ids are root-relative, '/'-separated, with extension, in sorted walk order") {
  temp_dir tmp;
  const auto root = tmp.dir("models");
  write_safetensors(fs::path(root) / "sub/deeper/c.safetensors");
  write_gguf(fs::path(root) / "b.gguf");
  write_safetensors(fs::path(root) / "a.safetensors", 24);
  write_safetensors(fs::path(root) / "sub/a.safetensors");

  const auto result = discover({root}, {});
  CHECK(result.errors.empty());
  CHECK(changed_ids(result) == ids{"a.safetensors", "b.gguf", "sub/a.safetensors", "sub/deeper/c.safetensors"});
  CHECK(result.unchanged.empty());
  CHECK(result.removed.empty());

  const auto* file = changed(result, "sub/deeper/c.safetensors");
  REQUIRE(file);
  CHECK(file->root == root);
  CHECK(file->path == root + "/sub/deeper/c.safetensors");
  const auto expected = known_as(root, file->path);
  CHECK(file->size_bytes == expected.size_bytes);
  CHECK(file->mtime_ns == expected.mtime_ns);
  CHECK(changed(result, "a.safetensors")->size_bytes == 8 + 24);
}

TEST_CASE("mtime is kept to the nanosecond") {
  temp_dir tmp;
  const auto root = tmp.dir("models");
  write_safetensors(fs::path(root) / "m.safetensors");
  set_mtime(fs::path(root) / "m.safetensors", 1'700'000'000, 123'456'789);
  const auto result = discover({root}, {});
  REQUIRE(result.changed.size() == 1);
  CHECK(result.changed[0].mtime_ns == 1'700'000'000'123'456'789);
}

TEST_CASE("hidden files and directories are skipped without a report") {
  temp_dir tmp;
  const auto root = tmp.dir("models");
  write_safetensors(fs::path(root) / ".cache/x.safetensors");
  write_safetensors(fs::path(root) / ".partial.safetensors");
  write_safetensors(fs::path(root) / "sub/.tmp.safetensors");
  write_safetensors(fs::path(root) / "visible.safetensors");
  link(fs::path(root) / "visible.safetensors", fs::path(root) / ".alias.safetensors");

  const auto result = discover({root}, {});
  CHECK(changed_ids(result) == ids{"visible.safetensors"});
  CHECK(result.errors.empty());
}

TEST_CASE("a damaged file with a model extension is changed; no model extension and no model content is "
          "UNSUPPORTED_FORMAT") {
  temp_dir tmp;
  const auto root = tmp.dir("models");
  // Damaged models stay visible: the inspection that follows marks them invalid.
  write_bytes(fs::path(root) / "x.ckpt", "");
  write_bytes(fs::path(root) / "broken.safetensors", "\x13\x37 garbage, no header \xff\xfe");
  write_bytes(fs::path(root) / "LOUD.PTH", "an upper-case extension is a model extension too");
  write_safetensors(fs::path(root) / "real.safetensors");
  write_safetensors(fs::path(root) / "weights.data"); // model content under any name
  // Neither a model extension nor model content.
  write_bytes(fs::path(root) / "notes.txt", "just some text, not a model at all");
  write_bytes(fs::path(root) / "README", "read me");
  write_bytes(fs::path(root) / "empty.txt", "");

  const auto result = discover({root}, {});
  CHECK(changed_ids(result) == ids{"LOUD.PTH", "broken.safetensors", "real.safetensors", "weights.data", "x.ckpt"});
  REQUIRE(changed(result, "x.ckpt") != nullptr);
  CHECK(changed(result, "x.ckpt")->size_bytes == 0);
  CHECK(error_codes(result) == ids{"UNSUPPORTED_FORMAT", "UNSUPPORTED_FORMAT", "UNSUPPORTED_FORMAT"});
  REQUIRE(result.errors.size() == 3);
  CHECK(result.errors[0].path == root + "/README");
  CHECK(result.errors[1].path == root + "/empty.txt");
  CHECK(result.errors[2].path == root + "/notes.txt");
  CHECK(result.removed.empty());
}

TEST_CASE("a link into another root is PATH_NOT_ALLOWED: files are opened inside their own root") {
  temp_dir tmp;
  const auto first = tmp.dir("first");
  const auto second = tmp.dir("second");
  write_safetensors(fs::path(second) / "real.safetensors");
  link(fs::path(second) / "real.safetensors", fs::path(first) / "alias.safetensors");

  for (const auto& roots : {std::vector<std::string>{first, second}, std::vector<std::string>{second, first}}) {
    const auto result = discover(roots, {});
    REQUIRE(changed_ids(result) == ids{"real.safetensors"});
    CHECK(result.changed[0].root == second);
    CHECK(error_codes(result) == ids{"PATH_NOT_ALLOWED"});
    CHECK(result.errors[0].path == first + "/alias.safetensors");
  }
  SECTION("nested roots: the inner files are kept once") {
    write_safetensors(fs::path(first) / "inner/x.safetensors");
    const auto inner = first + "/inner";
    const auto result = discover({first, inner, second}, {});
    CHECK(error_codes(result) == ids{"PATH_NOT_ALLOWED"});
    CHECK(changed_ids(result) == ids{"inner/x.safetensors", "real.safetensors"});
  }
  SECTION("a root listed twice is walked once") {
    const auto result = discover({second, second}, {});
    CHECK(changed_ids(result) == ids{"real.safetensors"});
    CHECK(result.errors.empty());
  }
}

TEST_CASE("different files with one model id in two roots: the first root keeps it") {
  temp_dir tmp;
  const auto first = tmp.dir("first");
  const auto second = tmp.dir("second");
  write_safetensors(fs::path(first) / "same.safetensors");
  write_gguf(fs::path(second) / "same.safetensors");

  const auto result = discover({first, second}, {});
  REQUIRE(result.changed.size() == 1);
  CHECK(result.changed[0].root == first);
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].code == "DUPLICATE_MODEL_ID");
  CHECK(result.errors[0].path == second + "/same.safetensors");

  SECTION("also in a scan of the second root alone, while the catalog knows the first") {
    const auto only_second = discover({first, second}, known_from(result), {}, second);
    CHECK(only_second.changed.empty());
    CHECK(error_codes(only_second) == ids{"DUPLICATE_MODEL_ID"});
    CHECK(only_second.removed.empty());
  }
}

TEST_CASE("a link to a file the walk finds under its own name is reported, not swapped in") {
  temp_dir tmp;
  const auto root = tmp.dir("models");
  write_safetensors(fs::path(root) / "store/blob", 40);
  link("../store/blob", fs::path(root) / "named/model.safetensors");
  link(fs::path(root) / "named/model.safetensors", fs::path(root) / "chain.safetensors"); // link to a link

  const auto result = discover({root}, {});
  // "chain.safetensors" sorts first: a walk that took links as it met them gave it the blob's id.
  REQUIRE(changed_ids(result) == ids{"store/blob"});
  CHECK(result.changed[0].size_bytes == 8 + 40);
  CHECK(error_codes(result) == ids{"DUPLICATE_FILE", "DUPLICATE_FILE"});
  CHECK(error_for(result, root + "/chain.safetensors")->message.find("store/blob") != std::string::npos);
  CHECK(error_for(result, root + "/named/model.safetensors") != nullptr);
}

TEST_CASE("a link to a hidden file is taken under its own id, once") {
  temp_dir tmp;
  const auto root = tmp.dir("models");
  write_safetensors(fs::path(root) / ".store/blob", 40);
  link("../.store/blob", fs::path(root) / "named/model.safetensors");
  link(fs::path(root) / "named/model.safetensors", fs::path(root) / "chain.safetensors");

  const auto result = discover({root}, {});
  REQUIRE(changed_ids(result) == ids{"chain.safetensors"});
  CHECK(result.changed[0].path == root + "/chain.safetensors");
  CHECK(error_codes(result) == ids{"DUPLICATE_FILE"});
  CHECK(error_for(result, root + "/named/model.safetensors")->message.find("chain.safetensors") != std::string::npos);
}

TEST_CASE("links that leave the roots are PATH_NOT_ALLOWED") {
  temp_dir tmp;
  const auto root = tmp.dir("models");
  const auto sibling = tmp.dir("models2"); // a string prefix of it is the root: still outside
  write_safetensors(fs::path(sibling) / "outside.safetensors");
  link(fs::path(sibling) / "outside.safetensors", fs::path(root) / "to_sibling.safetensors");
  link("../../models2/outside.safetensors", fs::path(root) / "sub/relative_out.safetensors");
  link("/nonexistent/elsewhere.safetensors", fs::path(root) / "dangling_out.safetensors");
  link(fs::path(root) / "missing.safetensors", fs::path(root) / "dangling_in.safetensors");

  const auto result = discover({root}, {});
  CHECK(result.changed.empty());
  REQUIRE(result.errors.size() == 4);
  CHECK(error_for(result, root + "/to_sibling.safetensors")->code == "PATH_NOT_ALLOWED");
  CHECK(error_for(result, root + "/sub/relative_out.safetensors")->code == "PATH_NOT_ALLOWED");
  CHECK(error_for(result, root + "/dangling_out.safetensors")->code == "PATH_NOT_ALLOWED");
  CHECK(error_for(result, root + "/dangling_in.safetensors")->code == "UNREADABLE");

  SECTION("also when the sibling is a root too: a link may not leave its own root") {
    const auto both = discover({root, sibling}, {});
    CHECK(changed_ids(both) == ids{"outside.safetensors"});
    CHECK(error_codes(both) == ids{"UNREADABLE", "PATH_NOT_ALLOWED", "PATH_NOT_ALLOWED", "PATH_NOT_ALLOWED"});
  }
}

TEST_CASE("directory links are not followed, and not reported") {
  temp_dir tmp;
  const auto root = tmp.dir("models");
  const auto outside = tmp.dir("outside");
  write_safetensors(fs::path(root) / "real/a.safetensors");
  write_safetensors(fs::path(outside) / "b.safetensors");
  link(fs::path(root) / "real", fs::path(root) / "alias_dir");
  link(outside, fs::path(root) / "outside_dir");
  link(root, fs::path(root) / "real/loop");

  const auto result = discover({root}, {});
  CHECK(changed_ids(result) == ids{"real/a.safetensors"});
  CHECK(result.errors.empty());
}

TEST_CASE("an unchanged file is neither opened nor read") {
  temp_dir tmp;
  const auto root = tmp.dir("models");
  const auto file = fs::path(root) / "m.safetensors";
  write_safetensors(file);
  set_mtime(file, 1'600'000'000, 42);
  const std::map<std::string, known_file> known{{"m.safetensors", known_as(root, file)}};

  // Same size, no model inside any more, mtime put back: only a read could notice.
  write_bytes(file, std::string(safetensors_bytes().size(), 'x'));
  set_mtime(file, 1'600'000'000, 42);

  const auto result = discover({root}, known);
  CHECK(result.unchanged == ids{"m.safetensors"});
  CHECK(result.changed.empty());
  CHECK(result.errors.empty());
  CHECK(result.removed.empty());

  SECTION("one nanosecond later it is read: damaged, but its model extension keeps it in the catalog") {
    set_mtime(file, 1'600'000'000, 43);
    const auto again = discover({root}, known);
    CHECK(again.unchanged.empty());
    CHECK(changed_ids(again) == ids{"m.safetensors"});
    CHECK(again.errors.empty());
    CHECK(again.removed.empty());
  }
}

TEST_CASE("a known file without a model extension whose content is no longer a model is removed") {
  temp_dir tmp;
  const auto root = tmp.dir("models");
  const auto file = fs::path(root) / "m.weights";
  write_safetensors(file);
  const std::map<std::string, known_file> known{{"m.weights", known_as(root, file)}};
  write_bytes(file, "now only text");
  set_mtime(file, 1'600'000'000, 44);

  const auto result = discover({root}, known);
  CHECK(result.changed.empty());
  CHECK(error_codes(result) == ids{"UNSUPPORTED_FORMAT"});
  CHECK(result.removed == ids{"m.weights"}); // seen, but no longer a model
}

TEST_CASE("changes in mtime, size or root make a file changed") {
  temp_dir tmp;
  const auto root = tmp.dir("models");
  const auto other = tmp.dir("other");
  const auto file = fs::path(root) / "m.safetensors";
  write_safetensors(file);
  set_mtime(file, 1'600'000'000, 0);
  const auto recorded = known_as(root, file);

  SECTION("mtime") {
    set_mtime(file, 1'600'000'001, 0);
    const auto result = discover({root}, {{"m.safetensors", recorded}});
    REQUIRE(changed_ids(result) == ids{"m.safetensors"});
    CHECK(result.changed[0].mtime_ns == 1'600'000'001'000'000'000);
  }
  SECTION("size") {
    write_safetensors(file, 32);
    set_mtime(file, 1'600'000'000, 0);
    const auto result = discover({root}, {{"m.safetensors", recorded}});
    REQUIRE(changed_ids(result) == ids{"m.safetensors"});
    CHECK(result.changed[0].size_bytes == recorded.size_bytes + 16);
  }
  SECTION("root") {
    auto elsewhere = recorded;
    elsewhere.root = other;
    const auto result = discover({root, other}, {{"m.safetensors", elsewhere}});
    REQUIRE(changed_ids(result) == ids{"m.safetensors"});
    CHECK(result.changed[0].root == root);
    CHECK(result.removed.empty());
  }
  SECTION("nothing") {
    const auto result = discover({root}, {{"m.safetensors", recorded}});
    CHECK(result.unchanged == ids{"m.safetensors"});
    CHECK(result.changed.empty());
  }
}

TEST_CASE("removed: known ids of the scanned roots that are gone") {
  temp_dir tmp;
  const auto first = tmp.dir("first");
  const auto second = tmp.dir("second");
  write_safetensors(fs::path(first) / "keep.safetensors");
  write_safetensors(fs::path(first) / "gone.safetensors");
  write_safetensors(fs::path(second) / "other_gone.safetensors");
  const auto known = known_from(discover({first, second}, {}));
  REQUIRE(known.size() == 3);
  fs::remove(fs::path(first) / "gone.safetensors");
  fs::remove(fs::path(second) / "other_gone.safetensors");

  const auto result = discover({first, second}, known);
  CHECK(result.unchanged == ids{"keep.safetensors"});
  CHECK(result.removed == ids{"gone.safetensors", "other_gone.safetensors"});

  SECTION("a root no longer configured removes nothing") {
    const auto only_first_configured = discover({first}, known);
    CHECK(only_first_configured.removed == ids{"gone.safetensors"});
  }
  SECTION("a root that vanished is UNREADABLE and removes nothing") {
    fs::remove_all(second);
    const auto vanished = discover({first, second}, known);
    CHECK(vanished.removed == ids{"gone.safetensors"});
    REQUIRE(vanished.errors.size() == 1);
    CHECK(vanished.errors[0].code == "UNREADABLE");
    CHECK(vanished.errors[0].path == second);
  }
}

TEST_CASE("only_root walks that root alone and removes only its ids") {
  temp_dir tmp;
  const auto first = tmp.dir("first");
  const auto second = tmp.dir("second");
  write_safetensors(fs::path(first) / "a.safetensors");
  write_safetensors(fs::path(second) / "b.safetensors");
  write_safetensors(fs::path(second) / "c.safetensors");
  const auto known = known_from(discover({first, second}, {}));
  fs::remove(fs::path(first) / "a.safetensors");
  fs::remove(fs::path(second) / "c.safetensors");
  write_gguf(fs::path(second) / "new.gguf");

  const auto result = discover({first, second}, known, {}, second);
  CHECK(result.unchanged == ids{"b.safetensors"});
  CHECK(changed_ids(result) == ids{"new.gguf"});
  CHECK(result.removed == ids{"c.safetensors"}); // a.safetensors is gone too, but first was not scanned
  CHECK(result.errors.empty());

  SECTION("a link into an earlier root is left to that root") {
    write_safetensors(fs::path(first) / "shared.safetensors");
    link(fs::path(first) / "shared.safetensors", fs::path(second) / "link.safetensors");
    const auto partial = discover({first, second}, known, {}, second);
    CHECK(changed_ids(partial) == ids{"new.gguf"});
    const auto full = discover({first, second}, known);
    CHECK(changed_ids(full) == ids{"shared.safetensors", "new.gguf"});
  }
  SECTION("a path that is no root walks nothing") {
    const auto stray = discover({first, second}, known, {}, tmp.path.string());
    CHECK(error_codes(stray) == ids{"PATH_NOT_ALLOWED"});
    CHECK(stray.changed.empty());
    CHECK(stray.removed.empty());
  }
}

TEST_CASE("the entry limit stops the walk; what was not seen is not removed") {
  temp_dir tmp;
  const auto first = tmp.dir("first");
  const auto second = tmp.dir("second");
  for (const auto* name : {"1.safetensors", "2.safetensors", "3.safetensors", "4.safetensors"})
    write_safetensors(fs::path(first) / name);
  write_safetensors(fs::path(second) / "z.safetensors");
  const auto known = known_from(discover({first, second}, {}));

  discovery_limits limits;
  limits.max_files = 2;
  const auto result = discover({first, second}, known, limits);
  CHECK(result.unchanged == ids{"1.safetensors", "2.safetensors"});
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].code == "SCAN_LIMIT");
  CHECK(result.errors[0].path == first + "/3.safetensors");
  CHECK(result.removed.empty());
}

TEST_CASE("the depth limit skips deeper directories with SCAN_LIMIT") {
  temp_dir tmp;
  const auto root = tmp.dir("models");
  write_safetensors(fs::path(root) / "top.safetensors");
  write_safetensors(fs::path(root) / "a/one.safetensors");
  write_safetensors(fs::path(root) / "a/b/two.safetensors");
  write_safetensors(fs::path(root) / "z/gone.safetensors");
  const auto known = known_from(discover({root}, {}));
  REQUIRE(known.size() == 4);
  fs::remove_all(fs::path(root) / "z");

  discovery_limits limits;
  limits.max_depth = 1;
  const auto result = discover({root}, known, limits);
  CHECK(result.unchanged == ids{"a/one.safetensors", "top.safetensors"});
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].code == "SCAN_LIMIT");
  CHECK(result.errors[0].path == root + "/a/b");
  CHECK(result.removed == ids{"z/gone.safetensors"}); // a/b/two.safetensors was not looked at
}

TEST_CASE("an unreadable directory is UNREADABLE, the rest is scanned, its files are not removed") {
  temp_dir tmp;
  fs::permissions(tmp.path, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  const auto root = tmp.dir("models");
  write_safetensors(fs::path(root) / "fine.safetensors");
  write_safetensors(fs::path(root) / "locked/inside.safetensors");
  const auto known = known_from(discover({root}, {}));
  REQUIRE(known.size() == 2);
  fs::permissions(fs::path(root) / "locked", fs::perms::none);

  // root reads through any mode bits, so the scan runs in a child that has given up root.
  int channel[2];
  REQUIRE(::pipe(channel) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(channel[0]);
    std::string report;
    if (::geteuid() == 0) {
      const struct passwd* nobody = ::getpwnam("nobody");
      const uid_t uid = nobody ? nobody->pw_uid : 65534;
      const gid_t gid = nobody ? nobody->pw_gid : 65534;
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)
        report = "cannot drop root";
    }
    if (report.empty()) {
      const auto result = discover({root}, known);
      report = "unchanged:";
      for (const auto& id : result.unchanged)
        report += id + ",";
      report += " removed:";
      for (const auto& id : result.removed)
        report += id + ",";
      report += " errors:";
      for (const auto& error : result.errors)
        report += error.code + "@" + error.path + ",";
    }
    const auto written = ::write(channel[1], report.data(), report.size());
    ::_exit(written == static_cast<ssize_t>(report.size()) ? 0 : 1);
  }
  ::close(channel[1]);
  std::string report;
  char buffer[512];
  for (ssize_t got; (got = ::read(channel[0], buffer, sizeof buffer)) > 0;)
    report.append(buffer, static_cast<std::size_t>(got));
  ::close(channel[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  if (report == "cannot drop root") {
    WARN("skipped: running as root and cannot switch to an unprivileged user");
    return;
  }
  CHECK(report == "unchanged:fine.safetensors, removed: errors:UNREADABLE@" + root + "/locked,");
}

TEST_CASE("resolve_model_path: inside the roots") {
  temp_dir tmp;
  const auto first = tmp.dir("first");
  const auto second = tmp.dir("second");
  write_safetensors(fs::path(first) / "sub/a.safetensors");
  write_safetensors(fs::path(second) / "b.safetensors");
  write_safetensors(fs::path(second) / "sub/a.safetensors");

  SECTION("absolute") {
    const auto path = resolved(resolve_model_path({first, second}, second + "/b.safetensors"));
    CHECK(path.root == second);
    CHECK(path.model_id == "b.safetensors");
    CHECK(path.path == second + "/b.safetensors");
  }
  SECTION("absolute with a '..' that stays inside") {
    const auto path = resolved(resolve_model_path({first, second}, first + "/sub/../sub/a.safetensors"));
    CHECK(path.model_id == "sub/a.safetensors");
    CHECK(path.root == first);
  }
  SECTION("relative: the first root that has it") {
    const auto a = resolved(resolve_model_path({first, second}, "sub/a.safetensors"));
    CHECK(a.root == first);
    CHECK(a.path == first + "/sub/a.safetensors");
    const auto b = resolved(resolve_model_path({first, second}, "./b.safetensors"));
    CHECK(b.root == second);
    CHECK(b.model_id == "b.safetensors");
  }
  SECTION("a link inside keeps its own id and gives the target's path") {
    link(fs::path(second) / "b.safetensors", fs::path(first) / "alias.safetensors");
    const auto path = resolved(resolve_model_path({first, second}, "alias.safetensors"));
    CHECK(path.root == first);
    CHECK(path.model_id == "alias.safetensors");
    CHECK(path.path == second + "/b.safetensors");
  }
  SECTION("roots given in another spelling") {
    const auto path = resolved(resolve_model_path({first + "/./", second}, "sub/a.safetensors"));
    CHECK(path.root == first);
  }
}

TEST_CASE("resolve_model_path: refusals") {
  temp_dir tmp;
  const auto root = tmp.dir("models");
  const auto sibling = tmp.dir("models2");
  write_safetensors(fs::path(root) / "a.safetensors");
  write_safetensors(fs::path(sibling) / "out.safetensors");
  write_safetensors(tmp.path / "top.safetensors");
  const std::vector<std::string> roots{root};

  SECTION("'..' escapes") {
    for (const auto* asked : {"../models2/out.safetensors", "sub/../../top.safetensors", ".."}) {
      const auto error = refused(resolve_model_path(roots, asked));
      CHECK(error.code == "PATH_NOT_ALLOWED");
      CHECK(error.path == asked);
    }
    CHECK(refused(resolve_model_path(roots, root + "/../top.safetensors")).code == "PATH_NOT_ALLOWED");
  }
  SECTION("absolute paths outside, including a sibling sharing the root's string prefix") {
    CHECK(refused(resolve_model_path(roots, sibling + "/out.safetensors")).code == "PATH_NOT_ALLOWED");
    CHECK(refused(resolve_model_path(roots, "/etc/passwd")).code == "PATH_NOT_ALLOWED");
    CHECK(refused(resolve_model_path(roots, "/nonexistent/x.safetensors")).code == "PATH_NOT_ALLOWED");
    CHECK(refused(resolve_model_path(roots, sibling + "/missing.safetensors")).code == "PATH_NOT_ALLOWED");
  }
  SECTION("links that leave: file link, directory link, dangling link") {
    link(fs::path(sibling) / "out.safetensors", fs::path(root) / "out_link.safetensors");
    link(sibling, fs::path(root) / "out_dir");
    link("/nonexistent/x.safetensors", fs::path(root) / "dangling_out.safetensors");
    for (const auto* asked : {"out_link.safetensors", "out_dir/out.safetensors", "dangling_out.safetensors"}) {
      const auto error = refused(resolve_model_path(roots, asked));
      CHECK(error.code == "PATH_NOT_ALLOWED");
      CHECK_THAT(error.message, Catch::Contains("model roots"));
    }
    CHECK(refused(resolve_model_path(roots, root + "/out_link.safetensors")).code == "PATH_NOT_ALLOWED");
  }
  SECTION("missing inside the roots: MODEL_NOT_FOUND") {
    for (const auto& asked : {std::string("missing.safetensors"), std::string("no/such/dir/x.safetensors"),
                              root + "/missing.safetensors", std::string("a.safetensors/child")}) {
      const auto error = refused(resolve_model_path(roots, asked));
      CHECK(error.code == "MODEL_NOT_FOUND");
    }
    link(fs::path(root) / "gone.safetensors", fs::path(root) / "dangling_in.safetensors");
    CHECK(refused(resolve_model_path(roots, "dangling_in.safetensors")).code == "MODEL_NOT_FOUND");
  }
  SECTION("directories and special files") {
    fs::create_directories(fs::path(root) / "dir");
    for (const auto& asked : {std::string("dir"), std::string("dir/"), root, std::string("."), root + "/dir"}) {
      const auto error = refused(resolve_model_path(roots, asked));
      CHECK(error.code == "PATH_NOT_ALLOWED");
      CHECK_THAT(error.message, Catch::Contains("directory"));
    }
    REQUIRE(::mkfifo((fs::path(root) / "fifo").c_str(), 0600) == 0);
    const auto fifo = refused(resolve_model_path(roots, "fifo"));
    CHECK(fifo.code == "PATH_NOT_ALLOWED");
    CHECK_THAT(fifo.message, Catch::Contains("not a regular file"));
  }
  SECTION("empty path, no roots") {
    CHECK(refused(resolve_model_path(roots, "")).code == "PATH_NOT_ALLOWED");
    CHECK(refused(resolve_model_path({}, "a.safetensors")).code == "PATH_NOT_ALLOWED");
  }
}

TEST_CASE("discovery never throws on odd trees") {
  temp_dir tmp;
  const auto root = tmp.dir("models");
  REQUIRE(::mkfifo((fs::path(root) / "fifo.safetensors").c_str(), 0600) == 0);
  link("loop_b", fs::path(root) / "loop_a");
  link("loop_a", fs::path(root) / "loop_b");
  write_safetensors(fs::path(root) / "ok.safetensors");

  discovery_result result;
  REQUIRE_NOTHROW(result = discover({root, tmp.path.string() + "/missing_root"}, {}));
  CHECK(changed_ids(result) == ids{"ok.safetensors"});
  CHECK(error_codes(result) == ids{"UNREADABLE", "UNREADABLE", "UNREADABLE"}); // two loops, one missing root
}

TEST_CASE("an .onnx file is taken on its extension, since ONNX has no magic to sniff") {
  temp_dir tmp;
  const auto root = tmp.dir("models");
  // A ModelProto whose first field is ir_version, then a graph far longer than the sniff window.
  std::string onnx = std::string("\x08\x08\x3a\xff\x7f", 5) + std::string(20000, '\x01');
  write_bytes(fs::path(root) / "net.onnx", onnx);
  write_bytes(fs::path(root) / "net.txt", onnx);
  const auto result = discover({root}, {});
  CHECK(changed_ids(result) == ids{"net.onnx"});
  REQUIRE(error_for(result, root + "/net.txt") != nullptr);
  CHECK(error_for(result, root + "/net.txt")->code == "UNSUPPORTED_FORMAT");
}
