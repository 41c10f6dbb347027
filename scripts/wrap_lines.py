#!/usr/bin/env python
"""Re-wrap the code cells of notebooks so that no line is longer than 120 characters, keeping each cell's AST.

    python scripts/wrap_lines.py [--check] [--width 120] PATH [PATH ...]     (a PATH is a notebook or a folder of them)

Lines are broken only where Python joins lines by itself: inside brackets, after a comma or before a binary or
boolean operator, the rest continuing aligned to the open bracket (or with a hanging indent of 4 when the bracket
ends its line). An end-of-line comment that makes a line too long moves onto its own line above, at the same
indentation; a plain string literal inside brackets may be split into two adjacent literals. Nothing else changes:
no reformatting of whole cells, quotes or one-line `if x: return` statements. Each cell's AST (`ast.dump`, with
IPython magics and `#|` directives masked the same way before and after) must be unchanged, else the cell is left
as it was and reported. Lines that cannot be wrapped this way are reported as `file:cell id:line: reason`.
A second run changes nothing. `--check` writes nothing and exits 1 when a line is too long.
"""
from __future__ import annotations
import argparse, ast, io, json, keyword, re, sys, tokenize
from pathlib import Path

WIDTH = 120
BIN_OPS = {'+', '-', '*', '/', '//', '%', '@', '**', '|', '&', '^', '<<', '>>', 'and', 'or',
           '==', '!=', '<', '>', '<=', '>=', 'in', 'not', 'is', 'if', 'else'}
OPEN, CLOSE = '([{', ')]}'
SKIP = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
MAGIC = re.compile(r'^\s*(%%?[A-Za-z_]|!(?!=))')   # `%time`, `%%bash`, `!ls`; not a continued `!= x` or `% n`


def mask(src: str) -> str:
    "The cell with IPython magic lines commented out, so `ast` can parse it (`#|` lines are comments already)."
    return ''.join('#' + l if MAGIC.match(l) else l for l in src.splitlines(keepends=True))


def ast_of(src: str) -> str | None:
    "`ast.dump` of the masked cell, or None when it does not parse."
    try: return ast.dump(ast.parse(mask(src)))
    except (SyntaxError, ValueError): return None


def tokens(src: str) -> list[tokenize.TokenInfo] | None:
    "The tokens of the masked cell, or None when it does not tokenize."
    try: return list(tokenize.generate_tokens(io.StringIO(mask(src)).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError): return None


def _indent(line: str) -> str: return line[:len(line) - len(line.lstrip())]


def _comment_fix(lines: list[str], toks, row: int, width: int) -> list[str] | None:
    "Move the end-of-line comment of line `row` (1-based) onto its own line above, if that is where it is too long."
    com = [t for t in toks if t.type == tokenize.COMMENT and t.start[0] == row]
    if not com: return None
    c, line = com[0], lines[row - 1]
    code = line[:c.start[1]].rstrip()
    if not code or code.startswith('#'): return None
    if row > 1 and lines[row - 2].rstrip('\n').endswith('\\'): return None
    nl = '\n' if line.endswith('\n') else ''
    return lines[:row - 1] + [_indent(line) + c.string + '\n', code + nl] + lines[row:]


def _cont_indent(lines: list[str], toks, stack: list[int]) -> int:
    "Column the continuation starts at, for the innermost open bracket (an index into `toks`)."
    i = stack[-1]
    ob, nxt = toks[i], toks[i + 1]
    if nxt.start[0] == ob.start[0] and nxt.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
        return nxt.start[1]
    return len(_indent(lines[ob.start[0] - 1])) + 4


def _operand_end(t) -> bool:
    "Whether token `t` can end an operand, so that an operator after it is binary (not unary `-x`, `*args`)."
    if t.type in (tokenize.NUMBER, tokenize.STRING) or (t.type == tokenize.OP and t.string in CLOSE): return True
    return t.type == tokenize.NAME and (not keyword.iskeyword(t.string) or t.string in ('True', 'False', 'None'))


COMPOUND = {'if', 'elif', 'else', 'for', 'while', 'with', 'def', 'class', 'try', 'except', 'finally', 'async', 'match',
            'case', '@'}


def _semicolon_fix(lines: list[str], toks, row: int, width: int) -> list[str] | None:
    "Split line `row` after its rightmost fitting `;` into two lines at the same indentation (not in `if x: a; b`)."
    line, depth, first, best = lines[row - 1], 0, None, None
    for t in toks:
        if t.start[0] > row: break
        if t.type == tokenize.OP and t.string in OPEN: depth += 1
        elif t.type == tokenize.OP and t.string in CLOSE: depth -= 1
        if t.start[0] != row or t.type in SKIP: continue
        if first is None: first = t
        if t.string == ';' and depth == 0 and t.end[1] <= width: best = t
    if first is None or first.start[1] != len(_indent(line)) or first.string in COMPOUND or best is None: return None
    if line[best.end[1]:].strip() in ('', '\\') or line[best.end[1]:].lstrip().startswith('#'): return None
    nl = '\n' if line.endswith('\n') else ''
    return _with(lines, row, [line[:best.start[1]].rstrip() + '\n', _indent(line) + line[best.end[1]:].strip() + nl])


def _matches(toks) -> dict[int, tuple[int, int]]:
    "For each open bracket (token index), the (row, col) just past its closing bracket."
    out, stack = {}, []
    for i, t in enumerate(toks):
        if t.type == tokenize.OP and t.string in OPEN: stack.append(i)
        elif t.type == tokenize.OP and t.string in CLOSE and stack: out[stack.pop()] = t.end
    return out


def _header_end(toks, row: int) -> int:
    "Column of the `:` ending the header of a one-line compound statement on line `row` (`if x: return y`), else -1."
    first = next((t for t in toks if t.start[0] == row and t.type not in SKIP), None)
    if first is None or first.string not in COMPOUND or first.string == '@': return -1
    depth = 0
    for t in toks:
        if t.start[0] != row: continue
        if t.type == tokenize.OP and t.string in OPEN: depth += 1
        elif t.type == tokenize.OP and t.string in CLOSE: depth -= 1
        elif t.type == tokenize.OP and t.string == ':' and depth == 0:
            body = [u for u in toks if u.start[0] == row and u.start[1] > t.start[1] and u.type not in SKIP]
            return t.start[1] if body else -1
    return -1


def _break_fix(lines: list[str], toks, row: int, width: int) -> list[str] | None:
    "Break line `row` at the outermost, then rightmost, safe place where its first part fits; else split a string."
    line, cands, split, stack, lam, fors, match = lines[row - 1], [], None, [], [], [], _matches(toks)
    head_end = _header_end(toks, row)   # in `if x: body` break the body, not the header
    for i, t in enumerate(toks):
        if t.type == tokenize.ENDMARKER or t.start[0] > row: break
        if t.start[0] == row and stack and t.type not in SKIP and t.start[1] > head_end:
            prev, cand, o = toks[i - 1], None, toks[stack[-1]]
            if prev.end[0] != row or t.string in CLOSE: pass   # never at a line's start nor before a closing bracket
            elif prev.type == tokenize.OP and prev.string == ',': cand, rank = t.start[1], 0
            elif t.string in ('for', 'if') and t.type == tokenize.NAME and _operand_end(prev):
                cand, rank = t.start[1], 1
            elif t.string in BIN_OPS and _operand_end(prev) and (t.string != 'not' or toks[i + 1].string == 'in'):
                cand, rank = t.start[1], 1 if t.string in ('and', 'or', 'else') else 2
            end = match.get(stack[-1], (row + 1, 0))
            short = o.start[0] == row and end[0] == row and end[1] - o.start[1] < 40   # a small bracket: kept whole
            ind = _cont_indent(lines, toks, stack)
            if lam and lam[-1] == len(stack): cand = None   # inside a lambda's parameters
            if fors and fors[-1] == len(stack) and t.string != 'for': cand = None   # keep `for x, y in` together
            if cand is not None and not short and len(line[:cand].rstrip()) <= width and ind < min(cand, width - 20):
                tail = len(line.rstrip()) - cand
                cands.append(((tail < 12, len(stack), rank, -cand), cand, ind))
            if t.type == tokenize.STRING and t.end[0] == row and t.end[1] > width - 20 and split is None:
                split = _split_string(line, t, width, ind)
        if t.type == tokenize.NAME and t.string == 'lambda': lam.append(len(stack))
        elif t.type == tokenize.NAME and t.string == 'for': fors.append(len(stack))
        elif t.type == tokenize.NAME and t.string == 'in' and fors and fors[-1] == len(stack): fors.pop()
        elif t.type == tokenize.OP and t.string == ':' and lam and lam[-1] == len(stack): lam.pop()
        if t.type == tokenize.OP and t.string in OPEN: stack.append(i)
        elif t.type == tokenize.OP and t.string in CLOSE and stack: stack.pop()
    best = min(cands) if cands else None
    if split is not None and (best is None or best[0][0]): return _with(lines, row, split)
    if best is None: return None
    _, cand, ind = best
    nl = '\n' if line.endswith('\n') else ''
    new = [line[:cand].rstrip() + '\n', ' ' * ind + line[cand:].rstrip('\n') + nl]
    return lines[:row - 1] + new + _realign(lines, toks, match, row, cand, ind - cand)


def _realign(lines: list[str], toks, match, row: int, cand: int, delta: int) -> list[str]:
    "The lines after `row`, those continuing a bracket that moved (opened on `row` right of `cand`) shifted by `delta`."
    last = max((match[i][0] for i, t in enumerate(toks) if t.start[0] == row and t.start[1] >= cand
                and t.type == tokenize.OP and t.string in OPEN and i in match), default=row)
    out = lines[row:]
    for k in range(last - row):
        l = out[k]
        if l.strip() and len(_indent(l)) > cand: out[k] = ' ' * (len(_indent(l)) + delta) + l.lstrip()
    return out


def _with(lines, row, new): return lines[:row - 1] + new + lines[row:]


def _split_string(line: str, t, width: int, ind: int) -> list[str] | None:
    "Split a one-line string literal ending past `width` into two adjacent literals, at a space outside any `{}` field."
    m = re.match(r'([rRbBuUfF]{0,2})(\'|")(.*)\2$', t.string, re.S)
    if not m or m.group(3).startswith(m.group(2) * 2) or ind > t.start[1]: return None
    pre, q, body = m.groups()
    fstr, ok, depth = 'f' in pre.lower(), [], 0
    for k, ch in enumerate(body):   # the split points: after a space, outside replacement fields of an f-string
        if fstr and ch in '{}': depth += (1 if ch == '{' else -1) if body[k:k + 2] not in ('{{', '}}') or depth else 0
        ok.append(depth == 0)
    room = width - t.start[1] - len(pre) - 2
    for k in range(min(room, len(body) - 1), 0, -1):
        if body[k - 1] == ' ' and body[k] != ' ' and ok[k] and ok[k - 1] and not _escaped(body, k):
            a, b = body[:k], body[k:]
            pa = pre if not fstr or '{' in a else pre.replace('f', '').replace('F', '')
            pb = pre if not fstr or '{' in b else pre.replace('f', '').replace('F', '')
            nl = '\n' if line.endswith('\n') else ''
            first = line[:t.start[1]] + pa + q + a + q
            rest = ' ' * ind + pb + q + b + q + line[t.end[1]:].rstrip('\n') + nl
            return [first + '\n', rest]
    return None


def _escaped(body: str, k: int) -> bool:
    "Whether position `k` of a literal's body is inside an escape sequence (a split there would change the value)."
    n, j = 0, k - 1
    while j >= 0 and body[j] == '\\': n, j = n + 1, j - 1
    return n % 2 == 1 or '\\' in body[max(0, k - 10):k]


def _string_rows(toks) -> set[int]:
    "Rows covered by multi-line string tokens (docstrings and the like), which cannot be re-wrapped."
    return {r for t in toks if t.type == tokenize.STRING and t.end[0] > t.start[0]
            for r in range(t.start[0], t.end[0] + 1)}


def wrap_cell(src: str, width: int = WIDTH) -> tuple[str, list[tuple[int, str]]]:
    "The cell re-wrapped, and the (line, reason) of each line still too long; the cell unchanged if its AST changed."
    before = ast_of(src)
    lines = src.splitlines(keepends=True)
    if not any(len(l.rstrip('\n')) > width for l in lines): return src, []
    if before is None:
        return src, [(i + 1, 'cell does not parse') for i, l in enumerate(lines) if len(l.rstrip('\n')) > width]
    for _ in range(10 * len(lines) + 50):
        toks = tokens(''.join(lines))
        if toks is None: break
        strows, done = _string_rows(toks), True
        for row, l in enumerate(lines, 1):
            if len(l.rstrip('\n')) <= width or row in strows or MAGIC.match(l) or l.lstrip().startswith('#'): continue
            new = (_comment_fix(lines, toks, row, width) or _semicolon_fix(lines, toks, row, width)
                   or _break_fix(lines, toks, row, width))
            if new is not None and ast_of(''.join(new)) == before: lines, done = new, False; break
        if done: break
    out = ''.join(lines)
    if ast_of(out) != before: return src, [(0, 'the AST would change: cell left as it was')]
    toks, report = tokens(out), []
    strows = _string_rows(toks) if toks else set()
    for row, l in enumerate(out.splitlines(), 1):
        if len(l) <= width: continue
        why = ('magic line' if MAGIC.match(l) else 'inside a multi-line string' if row in strows
               else 'a comment line' if l.lstrip().startswith('#') else 'no safe break inside brackets')
        report.append((row, why))
    return out, report


def notebooks(paths: list[str]) -> list[Path]:
    "The notebooks named by `paths`: files as given, folders searched recursively (checkpoints skipped)."
    out = []
    for p in map(Path, paths):
        fs = sorted(p.rglob('*.ipynb')) if p.is_dir() else [p]
        out += [f for f in fs if '.ipynb_checkpoints' not in f.parts]
    return out


def process(nb_path: Path, check: bool = False, width: int = WIDTH) -> list[str]:
    "Re-wrap one notebook in place (unless `check`); the report lines `file:cell id:line: reason`."
    nb = json.loads(nb_path.read_text(encoding='utf-8'))
    report, changed = [], False
    for n, cell in enumerate(nb['cells']):
        if cell['cell_type'] != 'code': continue
        src = ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']
        new, rep = wrap_cell(src, width)
        cid = cell.get('id', f'#{n}')
        if check:
            report += [f'{nb_path}:{cid}:{i}: too long ({len(l)} > {width})' for i, l in enumerate(src.splitlines(), 1)
                       if len(l) > width]
            continue
        report += [f'{nb_path}:{cid}:{i}: {why}' for i, why in rep]
        if new != src: cell['source'], changed = new.splitlines(keepends=True), True
    if changed and not check:
        nb_path.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    return report


def main(argv: list[str] | None = None) -> int:
    "Command line: wrap (or `--check`) the notebooks; exit 1 when a line is still too long."
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('paths', nargs='+', help='notebooks, or folders searched for them')
    ap.add_argument('--check', action='store_true', help='write nothing; list the lines that are too long')
    ap.add_argument('--width', type=int, default=WIDTH, help='longest line allowed (default %(default)s)')
    a = ap.parse_args(argv)
    report = [r for f in notebooks(a.paths) for r in process(f, a.check, a.width)]
    for r in report: print(r)
    return 1 if report else 0


if __name__ == '__main__': sys.exit(main())
