-- wrk script for POST /api/messages: a new message per request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"username":"wrk","content":"bench message ' .. n .. '"}')
end
