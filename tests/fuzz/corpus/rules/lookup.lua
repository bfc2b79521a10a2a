local t = lookup { file = "thresholds.csv", key = "segment" }
local x = t.smb.days
