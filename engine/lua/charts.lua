-- charts.lua: the report's charts as inline SVG (bars, funnel, line), the page's CSS, and how a
-- cell is shown. Every mark carries its cell as it is in the CSV file (data-row, data-column,
-- data-value) and a <title> with its label; every chart is an <svg role="img"> with a <title>
-- and a <desc> that lists its values. Shown text is the cell itself, with digits grouped
-- (1,087) or as a percent (0.9384 -> 93.84%): both made from the cell's digits, never through
-- a double, so the page and the CSV file agree to the last digit. Text never sits on a bar
-- (dark text on white only); the layout is a fixed 400-unit-wide drawing that scales down to a
-- phone's width. Pure functions of their arguments: same points, same bytes.
local fmt, concat = string.format, table.concat
local floor, ceil, max, min, abs, log10 = math.floor, math.ceil, math.max, math.min, math.abs, math.log10

local M = {}

local W = 400 -- the drawing's width (and its width in CSS pixels, at most)
local TEXT, MUTED, GRID = "#1f2328", "#57606a", "#d0d7de"
local ONE = "#1f5fbf"
-- bands in their declared order (riskiest first), then other series
local PALETTE = { "#b42318", "#b54708", "#067647", "#1f5fbf", "#6941c6", "#475467", "#c11574", "#0e7090" }

function M.esc(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }))
end
local esc = M.esc

-- The parts of a number cell (sign, integer digits, fraction digits), or nil: a cell such as
-- an id ("000123") is not shown as a number.
local function parts(text, dec)
  local sign, int, frac = text:match("^(%-?)(%d+)" .. (dec == "," and "," or "%.") .. "(%d+)$")
  if not sign then sign, int = text:match("^(%-?)(%d+)$"); frac = "" end
  if not sign or (#int > 1 and int:sub(1, 1) == "0") then return nil end
  return sign, int, frac
end

-- A cell's number (for geometry only), or nil.
function M.number(text, dec)
  if not parts(text, dec) then return nil end
  return tonumber(dec == "," and text:gsub(",", ".") or text)
end

local function group(int, dec)
  local g = dec == "," and "." or ","
  local out = int:reverse():gsub("(%d%d%d)", "%1" .. g):reverse()
  if out:sub(1, 1) == g then out = out:sub(2) end
  return out
end

-- A cell as shown: digits grouped, or (percent) the fraction as a percent; other text as it is.
function M.display(text, dec, percent)
  local sign, int, frac = parts(text, dec)
  if not sign then return text end
  if percent then
    frac = frac .. ("0"):rep(max(0, 2 - #frac))
    int, frac = (int .. frac:sub(1, 2)):gsub("^0+(%d)", "%1"), frac:sub(3):gsub("0+$", "")
    return sign .. group(int, dec) .. (frac ~= "" and (dec .. frac) or "") .. "%"
  end
  return sign .. group(int, dec) .. (frac ~= "" and (dec .. frac) or "")
end

-- The width of a text at 13 px, on the generous side (DejaVu Sans digits are 0.64 em).
local function width(s)
  local n = 0
  for _ in tostring(s):gmatch("[^\128-\191]") do n = n + 1 end
  return n * 8.6
end

local function num(x) -- coordinates: at most 2 decimals, no "-0"
  local s = fmt("%.2f", x):gsub("%.?0+$", "")
  return s == "-0" and "0" or s
end

local function open_svg(p, h, kind)
  local b = {}
  b[1] = fmt('<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="%s-t %s-d" class="chart %s" width="%d" height="%s" viewBox="0 0 %d %s" data-source="%s" data-x="%s" data-y="%s"%s>',
    p.id, p.id, kind, W, num(h), W, num(h), esc(p.source), esc(p.x), esc(p.y), p.series and fmt(' data-series="%s"', esc(p.series)) or "")
  local items = {}
  for i, pt in ipairs(p.points) do
    if i > 60 then items[#items + 1] = fmt("and %d more (see the numbers below the chart)", #p.points - 60); break end
    items[#items + 1] = fmt("%s%s: %s", pt.x, pt.series and (" " .. pt.series) or "", pt.y ~= "" and M.display(pt.y, p.dec, p.percent) or "no value")
  end
  b[2] = fmt('<title id="%s-t">%s</title><desc id="%s-d">%s by %s, from %s. %s.</desc>', p.id, esc(p.title), p.id, esc(p.y), esc(p.x), esc(p.source), esc(concat(items, "; ")))
  return b
end

local function mark_attrs(p, pt)
  return fmt('class="mark" data-row="%d" data-column="%s" data-value="%s"', pt.row, esc(p.y), esc(pt.y))
end

local function mark_title(p, pt)
  return fmt("<title>%s%s: %s</title>", esc(pt.x), pt.series and (", " .. esc(pt.series)) or "", esc(pt.y ~= "" and M.display(pt.y, p.dec, p.percent) or "no value"))
end

local function text(x, y, s, anchor, extra)
  return fmt('<text x="%s" y="%s"%s%s>%s</text>', num(x), num(y), anchor and fmt(' text-anchor="%s"', anchor) or "", extra or "", esc(s))
end

-- The value range [lo, hi] of the points, 0 included.
local function range(points)
  local lo, hi = 0, 0
  for _, pt in ipairs(points) do
    if pt.v then lo, hi = min(lo, pt.v), max(hi, pt.v) end
  end
  if hi == lo then hi = lo + 1 end
  return lo, hi
end

local function series_colors(p)
  local colors, n = {}, 0
  for _, pt in ipairs(p.points) do
    local s = pt.series
    if s and not colors[s] then
      n = n + 1
      local k = p.series_rank and p.series_rank[s] or nil
      colors[s] = PALETTE[((k or n) - 1) % #PALETTE + 1]
    end
  end
  return colors
end

-- Horizontal bars, one per row (CSV order); with a series, grouped by x under a heading.
function M.bars(p)
  local colors = series_colors(p)
  local label_w, value_w = 40, 30
  for _, pt in ipairs(p.points) do
    label_w = max(label_w, width(p.series and pt.series or pt.x))
    value_w = max(value_w, width(M.display(pt.y, p.dec, p.percent)))
  end
  label_w = min(label_w, 150) + 12
  local x0, x1 = label_w, W - value_w - 6
  local lo, hi = range(p.points)
  local function X(v) return x0 + (v - lo) / (hi - lo) * (x1 - x0) end
  local rows, y, last = {}, 4, nil
  for _, pt in ipairs(p.points) do
    if p.series and pt.x ~= last then
      y = y + (last and 6 or 0)
      rows[#rows + 1] = text(0, y + 14, pt.x, nil, ' font-weight="600"')
      y, last = y + 20, pt.x
    end
    local label = p.series and pt.series or pt.x
    rows[#rows + 1] = text(label_w - 8, y + 15, label, "end")
    local shown = pt.y ~= "" and M.display(pt.y, p.dec, p.percent) or "–"
    local a, b = X(0), X(pt.v or 0)
    rows[#rows + 1] = fmt('<rect %s x="%s" y="%s" width="%s" height="16" fill="%s">%s</rect>', mark_attrs(p, pt), num(min(a, b)), num(y + 3),
      num(max(abs(b - a), pt.v and pt.v ~= 0 and 1 or 0)), p.series and colors[pt.series] or ONE, mark_title(p, pt))
    rows[#rows + 1] = text(max(a, b) + 5, y + 15, shown)
    y = y + 22
  end
  local b = open_svg(p, y + 4, "bars")
  b[#b + 1] = fmt('<line x1="%s" y1="0" x2="%s" y2="%s" stroke="%s"/>', num(X(0)), num(X(0)), num(y + 4), MUTED)
  b[#b + 1] = concat(rows)
  b[#b + 1] = "</svg>"
  return concat(b)
end

-- A funnel: a bar per row centred on one axis, the values in a column on the right.
function M.funnel(p)
  local label_w, value_w = 40, 30
  for _, pt in ipairs(p.points) do
    label_w = max(label_w, width(pt.x))
    value_w = max(value_w, width(M.display(pt.y, p.dec, p.percent)))
  end
  label_w = min(label_w, 160) + 12
  local x0, x1 = label_w, W - value_w - 10
  local mid, top = (x0 + x1) / 2, 0
  for _, pt in ipairs(p.points) do if pt.v and pt.v > top then top = pt.v end end
  if top == 0 then top = 1 end
  local b, y = {}, 4
  for _, pt in ipairs(p.points) do
    local w = pt.v and pt.v > 0 and max(1, pt.v / top * (x1 - x0)) or 0
    b[#b + 1] = text(label_w - 8, y + 17, pt.x, "end")
    b[#b + 1] = fmt('<rect %s x="%s" y="%s" width="%s" height="20" rx="2" fill="%s">%s</rect>', mark_attrs(p, pt), num(mid - w / 2), num(y + 3), num(w), ONE, mark_title(p, pt))
    b[#b + 1] = text(W, y + 17, pt.y ~= "" and M.display(pt.y, p.dec, p.percent) or "–", "end")
    y = y + 28
  end
  local out = open_svg(p, y + 2, "funnel")
  out[#out + 1] = concat(b) .. "</svg>"
  return concat(out)
end

-- Ticks for [lo, hi]: a step of 1, 2 or 5 times a power of ten, about 4 of them.
local function ticks(lo, hi)
  local raw = (hi - lo) / 4
  local p = 10 ^ floor(log10(raw))
  local step = p
  for _, m in ipairs({ 1, 2, 5, 10 }) do if m * p >= raw then step = m * p; break end end
  local a, z = floor(lo / step + 1e-9) * step, ceil(hi / step - 1e-9) * step
  local t = {}
  for k = 0, floor((z - a) / step + 0.5) do t[#t + 1] = a + k * step end
  return t, step
end

local function tick_text(v, step, percent)
  local places = max(0, -floor(log10(step) + 1e-9) - (percent and 2 or 0))
  local s = fmt("%." .. places .. "f", percent and v * 100 or v)
  return (s:gsub("^%-(0[.0]*)$", "%1")) .. (percent and "%" or "")
end

-- A line over the rows in CSV order (x as categories); a point per value, gaps where empty.
function M.line(p)
  local lo, hi
  for _, pt in ipairs(p.points) do
    if pt.v then lo, hi = min(lo or pt.v, pt.v), max(hi or pt.v, pt.v) end
  end
  lo, hi = lo or 0, hi or 1
  if hi - lo < 1e-12 then lo, hi = lo - max(abs(lo) * 0.05, 0.5), hi + max(abs(hi) * 0.05, 0.5) end
  local ts, step = ticks(lo, hi)
  lo, hi = ts[1], ts[#ts]
  local left = 0
  for _, t in ipairs(ts) do left = max(left, width(tick_text(t, step, p.percent))) end
  local lw = 0
  for _, pt in ipairs(p.points) do lw = max(lw, width(pt.x)) end
  local H, top, bottom = 230, 10, 34
  local x0, x1, y0, y1 = max(left + 10, lw / 2 + 2), W - lw / 2 - 2, H - bottom, top
  local n = #p.points
  local function X(i) return n == 1 and (x0 + x1) / 2 or x0 + (i - 1) / (n - 1) * (x1 - x0) end
  local function Y(v) return y0 - (v - lo) / (hi - lo) * (y0 - y1) end
  local b = open_svg(p, H, "line")
  for _, t in ipairs(ts) do
    b[#b + 1] = fmt('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>', num(x0), num(Y(t)), num(x1), num(Y(t)), GRID)
    b[#b + 1] = text(x0 - 6, Y(t) + 4, tick_text(t, step, p.percent), "end", fmt(' fill="%s"', MUTED))
  end
  -- every k-th category is named, centred under its point, k such that the names never meet
  local every = n == 1 and 1 or max(1, ceil((lw + 10) / ((x1 - x0) / (n - 1))))
  for i, pt in ipairs(p.points) do
    if (i - 1) % every == 0 then b[#b + 1] = text(X(i), H - 12, pt.x, "middle") end
  end
  local path, seg = {}, {}
  local function flush()
    if #seg > 1 then path[#path + 1] = fmt('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>', concat(seg, " "), ONE) end
    seg = {}
  end
  for i, pt in ipairs(p.points) do
    if pt.v then seg[#seg + 1] = num(X(i)) .. "," .. num(Y(pt.v)) else flush() end
  end
  flush()
  b[#b + 1] = concat(path)
  for i, pt in ipairs(p.points) do
    if pt.v then
      b[#b + 1] = fmt('<circle %s cx="%s" cy="%s" r="4" fill="%s">%s</circle>', mark_attrs(p, pt), num(X(i)), num(Y(pt.v)), ONE, mark_title(p, pt))
    else
      b[#b + 1] = fmt('<g %s>%s</g>', mark_attrs(p, pt), mark_title(p, pt)) -- an empty cell: no point, still listed
    end
  end
  b[#b + 1] = "</svg>"
  return concat(b)
end

-- The page's style: one column on a phone, cards side by side on a wide screen; text colours
-- of at least 4.5:1 on their background; charts and figures never cut across printed pages.
M.CSS = [[
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1f2328;background:#f6f7f9}
header{padding:16px;background:#ffffff;border-bottom:1px solid #d0d7de}
h1{font-size:1.35rem;line-height:1.25;margin:0 0 4px}
h2{font-size:1.05rem;margin:0 0 10px}
h3{font-size:.95rem;margin:14px 0 4px}
.meta,.muted,.source,figcaption{color:#57606a}
.meta{margin:0;font-size:.9rem}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,27rem),1fr));gap:16px;padding:16px;max-width:1280px;margin:0 auto}
.card{background:#ffffff;border:1px solid #d0d7de;border-radius:8px;padding:12px 16px;min-width:0;break-inside:avoid;page-break-inside:avoid}
.card.wide{grid-column:1/-1;break-inside:auto;page-break-inside:auto}
figure{margin:0;break-inside:avoid;page-break-inside:avoid}
figcaption{font-size:.8rem;margin-top:4px}
.source{font-size:.8rem;margin:8px 0 0}
svg.chart{display:block;max-width:100%;height:auto;font:13px system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;fill:#1f2328}
.figures{display:flex;flex-wrap:wrap;gap:10px 28px;break-inside:avoid;page-break-inside:avoid}
.figure{display:flex;flex-direction:column;min-width:7rem}
.figure .v{font-size:1.6rem;font-weight:650;line-height:1.2;font-variant-numeric:tabular-nums}
.figure .l{color:#57606a;font-size:.85rem}
.group{break-inside:avoid;page-break-inside:avoid}
.table-wrap{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;font-size:.85rem;width:100%}
th,td{padding:3px 6px;border-bottom:1px solid #d8dee4;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{font-weight:600}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
details{margin-top:6px}
summary{cursor:pointer;color:#0550ae;font-size:.85rem}
footer{padding:0 16px 24px;max-width:1280px;margin:0 auto;color:#57606a;font-size:.8rem}
@page{size:A4;margin:12mm}
@media print{
body{background:#ffffff;font-size:12px}
header{border:0;padding:0 0 8px}
main{display:block;padding:0;max-width:none}
.card{border:0;border-radius:0;padding:0;margin:0 0 14px}
h2,h3{break-after:avoid;page-break-after:avoid}
details{display:none}
footer{padding:0}
}
]]

return M
