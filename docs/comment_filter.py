#!/usr/bin/env python3
"""Doxygen input filter: reads our headers' plain `//` comments as documentation.

Our headers are commented in the Abseil style: plain `//` comments, a file comment at the
top, a comment right above each declaration. Doxygen only reads `///`-style comments, so
this filter (run by doxygen on every header as `python3 comment_filter.py <file>`, see
docs/doxygen.bzl) rewrites, line for line:

  * the file comment (the first comment, before any code) -> `/// \\file` + its text,
    without the copyright line and `// ----` rulers;
  * a comment directly above a declaration at namespace or class scope -> `///`;
  * a trailing `// ...` after a member or enumerator (`int pid = -1;  // ...`) -> `///<`.

Comments inside function bodies, comments followed by a blank line (section headers,
notes) and comments above `static_assert`, `namespace`, `#include`... stay plain.

Inside doc comments, runs of lines indented by two or more spaces become code blocks (if
they look like C++) or Markdown lists (tables such as a "Returns:" list of status codes
become one item a line). In prose, `<`, `>`, `@`, `#` and `\\` are escaped, so that doxygen
does not take `std::vector<int>` for an HTML tag, and "i.e." does not end the summary.

The output has exactly as many lines as the input, so doxygen's warnings keep the header's
line numbers (and the source pages, which show the unfiltered header, stay in step).
"""

import re
import sys

# A declaration keyword that opens a scope (as opposed to a function body) when it
# precedes `{`.
_SCOPE_KEYWORD = re.compile(r"\b(namespace|class|struct|union|enum)\b")
# Code after which a comment is not documentation.
_NOT_A_DECLARATION = re.compile(
    r"^\s*(static_assert\b|namespace\b|using\s+namespace\b|#\s*(?!define\b)|\}|"
    r"(public|private|protected)\s*:)")
# A code line that looks like C++ rather than prose.
_LOOKS_LIKE_CODE = re.compile(r"[;{}]\s*(//.*)?$|^\s*(#include|//)|\)\s*(const\s*)?$")


def _strip_literals(code):
    """`code` with the insides of string and char literals blanked, at the same length."""
    return re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'',
                  lambda m: m.group()[0] + " " * (len(m.group()) - 2) + m.group()[0], code)


def _strip_template_header(statement):
    """Drops a leading `template <...>` (with nested brackets) from `statement`."""
    match = re.match(r"\s*template\s*<", statement)
    if not match:
        return statement
    depth = 1
    for i in range(match.end(), len(statement)):
        if statement[i] == "<":
            depth += 1
        elif statement[i] == ">":
            depth -= 1
            if depth == 0:
                return statement[i + 1:]
    return ""


def _opens_scope(statement):
    """True if a `{` after `statement` opens a namespace/class body, not a function's."""
    text = _strip_template_header(statement)
    previous = None
    while previous != text:  # drop parenthesized text, innermost first
        previous = text
        text = re.sub(r"\([^()]*\)", "", text)
    return bool(_SCOPE_KEYWORD.search(text))


def _escape_prose(text):
    """Escapes doxygen's special characters outside `code spans`."""
    parts = re.split(r"(`[^`]*`)", text)
    for i in range(0, len(parts), 2):
        part = parts[i].replace("\\", "\\\\")
        part = re.sub(r"([<>@])", r"\\\1", part)
        part = re.sub(r"#(?=\w)", r"\\#", part)  # `#undef` would be a link request
        # "i.e. " would end the first sentence, which JAVADOC_AUTOBRIEF makes the brief.
        part = re.sub(r"\b(e\.g|i\.e|etc|vs)\.( |$)", r"\1.&nbsp;", part)
        parts[i] = part
    return "".join(parts)


def _indent(text):
    return len(text) - len(text.lstrip(" "))


def _table_item(line):
    """One list item for a table row such as "InvalidArgument   what it means"."""
    match = re.match(r"(\S.*?)\s{2,}(\S.*)$", line)
    if match:
        return "- `%s` %s" % (match.group(1), _escape_prose(match.group(2)))
    return "- " + _escape_prose(line)


def _convert_block(texts):
    """Turns the texts of a comment block (without `//`) into doxygen text lines.

    Returns exactly len(texts) lines: \\code shares the line before the example, and
    \\endcode its last line.
    """
    out = []
    after_list = False  # the previous line ended a list
    i = 0
    n = len(texts)
    while i < n:
        text = texts[i]
        starts_run = text.strip() and _indent(text) >= 2 and (
            i == 0 or not texts[i - 1].strip() or texts[i - 1].rstrip().endswith(":"))
        if not starts_run:
            stripped = text.strip()
            if re.fullmatch(r"-{3,}", stripped) or re.fullmatch(r"File: \S+", stripped):
                out.append("")  # rulers and "File:" lines repeat the page title
            elif after_list and stripped:
                # Right under a list, a line would continue its last item: <p> ends it.
                out.append("<p>" + _escape_prose(text))
            else:
                out.append(_escape_prose(text))
            after_list = False
            i += 1
            continue

        # An indented run, possibly with blank lines inside it.
        end = i
        for j in range(i, n):
            if texts[j].strip() and _indent(texts[j]) < 2:
                break
            if texts[j].strip():
                end = j
        run = texts[i:end + 1]
        base = min(_indent(t) for t in run if t.strip())
        dedented = [t[base:] if t.strip() else "" for t in run]
        after_returns = i > 0 and texts[i - 1].rstrip().endswith("Returns:")
        if re.match(r"[*-] ", dedented[0]):
            out.extend(_escape_prose(t) for t in dedented)  # already a Markdown list
            after_list = True
        elif not after_returns and any(_LOOKS_LIKE_CODE.search(t) for t in dedented):
            # \code on the example's own first line would indent it one space more than
            # the others, so it goes at the end of the line before. (A plain \code: the
            # header's own language. Doxygen 1.9.4's \code{.cpp} inside a namespace loses
            # its \endcode after a `{/*` in the example.)
            if out:
                out[-1] = (out[-1] + " \\code").lstrip()
            else:
                dedented[0] = "\\code" + dedented[0]
            dedented[-1] += " \\endcode"
            out.extend(dedented)
            after_list = False
        else:
            # A table (a "Returns:" list of codes, a byte layout) becomes a list, one item
            # a row; rows indented further continue the item above.
            for t in dedented:
                if not t.strip() or t.startswith(" "):
                    out.append(_escape_prose(t.strip()))
                else:
                    out.append(_table_item(t))
            after_list = True
        i = end + 1
    return out


def _comment_text(line):
    """The text of a `//` comment line, without `//` and one space."""
    text = line.strip()[2:]
    return text[1:] if text.startswith(" ") else text


def filter_header(lines):
    """Returns the filtered lines of a header (same count as `lines`)."""
    out = []
    stack = []           # True for a namespace/class scope, False for a body
    statement = ""       # code since the last `;`, `{` or `}` at this level
    block = []           # indexes of the pending comment block's lines
    seen_code = False
    in_macro = False     # inside a #define continued with backslashes

    def in_body():
        return any(not scope for scope in stack)

    def flush(next_line):
        """Emits the pending comment block, as documentation if it documents next_line."""
        nonlocal block
        if not block:
            return
        first = lines[block[0]]
        prefix = first[:len(first) - len(first.lstrip())]
        texts = [_comment_text(lines[k]) for k in block]
        if not seen_code:
            # The file comment: drop the copyright line, keep the rest as \file docs.
            texts = ["" if t.startswith("Copyright") else t for t in texts]
            converted = _convert_block(texts)
            # \file takes the rest of its line as a file name: give it an empty line.
            blank = next((k for k, text in enumerate(converted) if not text), None)
            if blank is None:
                converted[-1] += " \\file"
            else:
                converted[blank] = "\\file"
            for text in converted:
                out.append(prefix + "/// " + text)
        elif (in_body() or next_line is None or not next_line.strip()
              or _NOT_A_DECLARATION.match(next_line)):
            out.extend(lines[k] for k in block)
        else:
            for text in _convert_block(texts):
                out.append(prefix + "/// " + text)
        block = []

    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("//") and not stripped.startswith("///") and not in_macro:
            block.append(index)
            continue
        flush(line)
        if not stripped:
            out.append(line)
            continue
        seen_code = True

        if in_macro or stripped.startswith("#"):
            in_macro = stripped.endswith("\\")
            out.append(line)
            continue

        code, comment = line, ""
        literal_free = _strip_literals(line)
        comment_at = literal_free.find("//")
        if comment_at >= 0:
            code, comment = line[:comment_at], line[comment_at:]

        # A trailing comment documents the member or enumerator on its line.
        if (comment and not comment.startswith("///") and not in_body()
                and re.search(r"[;,]\s*$", code)):
            line = code + "///< " + _escape_prose(_comment_text(comment))
        out.append(line)

        for char in _strip_literals(code):
            if char == "{":
                stack.append(_opens_scope(statement))
                statement = ""
            elif char == "}":
                if stack:
                    stack.pop()
                statement = ""
            elif char == ";":
                statement = ""
            else:
                statement += char
        statement += " "
    flush(None)
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as header:
        lines = header.read().split("\n")
    sys.stdout.write("\n".join(filter_header(lines)))


if __name__ == "__main__":
    main()
