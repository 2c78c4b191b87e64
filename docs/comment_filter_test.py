"""Tests for comment_filter.py, the doxygen input filter for our headers."""

import os
import unittest

import comment_filter


def run(text):
    return "\n".join(comment_filter.filter_header(text.split("\n")))


class CommentFilterTest(unittest.TestCase):

    def test_file_comment_becomes_file_documentation(self):
        out = run("// Copyright 2026 The unidist-cpp Authors.\n"
                  "//\n"
                  "// Thing: what it is.\n"
                  "\n"
                  "#ifndef X_H_\n")
        self.assertEqual(out, "/// \\file\n"
                              "/// \n"
                              "/// Thing: what it is.\n"
                              "\n"
                              "#ifndef X_H_\n")

    def test_comment_above_a_declaration_is_documentation(self):
        out = run("int x;\n"
                  "// Starts the runtime.\n"
                  "absl::Status Init();\n")
        self.assertEqual(out, "int x;\n"
                              "/// Starts the runtime.\n"
                              "absl::Status Init();\n")

    def test_detached_comments_and_bodies_stay_plain(self):
        source = ("int x;\n"
                  "// A section header.\n"
                  "\n"
                  "// Notes on the assert.\n"
                  "static_assert(true);\n"
                  "inline int F() {\n"
                  "  // Inside a body.\n"
                  "  int y = 0;  // trailing, in a body\n"
                  "  return y;\n"
                  "}\n")
        self.assertEqual(run(source), source)

    def test_trailing_member_comment(self):
        out = run("struct S {\n"
                  "  int pid = -1;  // its process id\n"
                  "};\n")
        self.assertEqual(out, "struct S {\n"
                              "  int pid = -1;  ///< its process id\n"
                              "};\n")

    def test_class_scope_is_not_a_body(self):
        out = run("int x;\n"
                  "template <typename T, typename = std::enable_if_t<(1 > 0)>>\n"
                  "class C {\n"
                  " public:\n"
                  "  // Does it.\n"
                  "  void Do();\n"
                  "};\n")
        self.assertIn("  /// Does it.\n", out)

    def test_indented_code_becomes_a_code_block(self):
        out = run("int x;\n"
                  "// Example:\n"
                  "//   int y = F();\n"
                  "//   Use(y);\n"
                  "void F();\n")
        self.assertEqual(out, "int x;\n"
                              "/// Example: \\code\n"
                              "/// int y = F();\n"
                              "/// Use(y); \\endcode\n"
                              "void F();\n")

    def test_status_table_becomes_a_list_and_ends_it(self):
        out = run("int x;\n"
                  "// Returns:\n"
                  "//   InvalidArgument   a bad option;\n"
                  "//   Internal          it broke.\n"
                  "// More text.\n"
                  "void F();\n")
        self.assertEqual(out, "int x;\n"
                              "/// Returns:\n"
                              "/// - `InvalidArgument` a bad option;\n"
                              "/// - `Internal` it broke.\n"
                              "/// <p>More text.\n"
                              "void F();\n")

    def test_prose_is_escaped_outside_code_spans(self):
        out = run("int x;\n"
                  "// std::vector<int> and `std::vector<int>`, #undef, a@b, i.e. this.\n"
                  "void F();\n")
        self.assertIn("/// std::vector\\<int\\> and `std::vector<int>`, \\#undef, a\\@b, "
                      "i.e.&nbsp;this.\n", out)

    def test_public_headers_keep_their_line_count(self):
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
        for header in ("api/unidist.h", "api/version.h", "common/codec.h", "common/data_id.h",
                       "testing/unidist_test.h", "testing/status_matchers.h",
                       "testing/process_helpers.h"):
            with open(os.path.join(root, header), encoding="utf-8") as f:
                lines = f.read().split("\n")
            self.assertEqual(len(comment_filter.filter_header(lines)), len(lines), header)


if __name__ == "__main__":
    unittest.main()
