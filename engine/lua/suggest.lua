-- suggest.lua: "did you mean": the closest of a list of names to a misspelt one (edit
-- distance at most 2, or a different case), or nil.
local M = {}

function M.distance(a, b)
  local la, lb = #a, #b
  if math.abs(la - lb) > 3 then return 99 end
  local prev = {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    local cur = { [0] = i }
    for j = 1, lb do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[lb]
end

function M.closest(name, candidates)
  if type(name) ~= "string" then return nil end
  local best, bd = nil, 3
  local lname = name:lower()
  for _, c in ipairs(candidates) do
    local d = c:lower() == lname and 0.5 or M.distance(name, c)
    if d < bd or (d == bd and best and c < best) then best, bd = c, d end
  end
  return best
end

return M
