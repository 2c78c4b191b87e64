// Copyright 2026 The unidist-cpp Authors.

#include "object_store/spill_file.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace unidist {
namespace {

// A fresh directory under the test's temporary directory.
std::string NewDirectory() {
  const char* base = getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(base != nullptr ? base : "/tmp", "/spill-XXXXXX");
  EXPECT_NE(mkdtemp(path.data()), nullptr);
  return path;
}

int EntriesIn(const std::string& directory) {
  int count = 0;
  DIR* dir = opendir(directory.c_str());
  while (dirent* entry = readdir(dir)) {
    if (std::string(entry->d_name) != "." && std::string(entry->d_name) != "..") ++count;
  }
  closedir(dir);
  return count;
}

// Lines of /proc/self/maps that map a file of `directory`.
int MappingsOf(const std::string& directory) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int count = 0;
  while (std::getline(maps, line)) count += absl::StrContains(line, directory) ? 1 : 0;
  return count;
}

TEST(SpillToFileTest, TheBytesStayReadableAndTheFileHasNoName) {
  const std::string directory = NewDirectory();
  auto counters = std::make_shared<SpillCounters>();
  std::string bytes(3 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 13);
  absl::StatusOr<std::shared_ptr<const ObjectBytes>> spilled =
      SpillToFile(directory, bytes, counters);
  ASSERT_TRUE(spilled.ok()) << spilled.status();
  EXPECT_EQ((*spilled)->view(), bytes);
  EXPECT_EQ((*spilled)->store(), nullptr);  // not in a shared-memory store
  EXPECT_EQ(counters->bytes.load(), bytes.size());
  EXPECT_EQ(counters->objects.load(), 1u);
  EXPECT_EQ(EntriesIn(directory), 0);  // nothing to find, nothing to clean up
  EXPECT_EQ(MappingsOf(directory), 1);
  spilled->reset();
  EXPECT_EQ(counters->bytes.load(), 0u);
  EXPECT_EQ(counters->objects.load(), 0u);
  EXPECT_EQ(MappingsOf(directory), 0);  // the file is gone with its mapping
  rmdir(directory.c_str());
}

TEST(SpillToFileTest, EmptyBytesAndBadDirectories) {
  const std::string directory = NewDirectory();
  absl::StatusOr<std::shared_ptr<const ObjectBytes>> empty = SpillToFile(directory, "", nullptr);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE((*empty)->view().empty());
  absl::StatusOr<std::shared_ptr<const ObjectBytes>> missing =
      SpillToFile(directory + "/missing", "x", nullptr);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "missing"));
  rmdir(directory.c_str());
}

}  // namespace
}  // namespace unidist
