-- Runs health.lua on sample NodeHealths: `lua5.4 health_test.lua` (from any directory).
local dir = arg[0]:match("(.*/)") or "./"
local source = dir .. "health.lua"

local function check(obj)
  local env = setmetatable({ obj = obj }, { __index = _G })
  local f = assert(loadfile(source, "t", env))
  return f()
end

local function cond(type_, status, reason, message)
  return { type = type_, status = status, reason = reason, message = message }
end

local function nh(generation, status)
  return { apiVersion = "nodehealth.io/v1alpha1", kind = "NodeHealth",
           metadata = { name = "validators", generation = generation }, status = status }
end

local cases = {
  {
    name = "a selector that matches nothing is a mistake",
    obj = nh(2, { observedGeneration = 2, ready = "0/0", conditions = {
      cond("Ready", "True", "Enforced", "policy enforced"),
      cond("Healthy", "Unknown", "NoPodsSelected", "the selector matches no pod") } }),
    status = "Degraded",
    message = "the selector matches no pod",
  },
  {
    name = "paused",
    obj = (function()
      local o = nh(2, { observedGeneration = 2, ready = "5/5", conditions = {
        cond("Ready", "True", "Enforced", "policy enforced"), cond("Healthy", "True", "AllHealthy", "5/5 healthy") } })
      o.metadata.annotations = { ["nodehealth.io/paused"] = "true" }
      return o
    end)(),
    status = "Suspended",
    message = "paused",
  },
  {
    name = "no status yet",
    obj = nh(1, nil),
    status = "Progressing",
  },
  {
    name = "ready and healthy",
    obj = nh(2, { observedGeneration = 2, ready = "5/5", conditions = {
      cond("Ready", "True", "Enforced", "policy enforced"), cond("Healthy", "True", "AllHealthy", "5/5 healthy"),
      cond("Stalled", "False", "Valid", ""), cond("Reconciling", "False", "Observed", "") } }),
    status = "Healthy",
    message = "5/5 validators healthy",
  },
  {
    name = "ready while validators are unhealthy is still Healthy",
    obj = nh(3, { observedGeneration = 3, ready = "4/5", conditions = {
      cond("Ready", "True", "Enforced", "policy enforced"),
      cond("Healthy", "False", "PodsUnhealthy", "1/5 pods unhealthy: validator-1: not_ready (OutOfSync)") } }),
    status = "Healthy",
    message = "validator-1: not_ready (OutOfSync)",
  },
  {
    name = "stalled",
    obj = nh(4, { observedGeneration = 4, conditions = {
      cond("Ready", "False", "InvalidSpec", "not enforced"),
      cond("Stalled", "True", "InvalidSpec", "port name system-api is declared by no selected pod") } }),
    status = "Degraded",
    message = "port name system-api is declared by no selected pod",
  },
  {
    name = "ready false",
    obj = nh(1, { observedGeneration = 1, conditions = { cond("Ready", "False", "NotEnforced", "cannot enforce") } }),
    status = "Degraded",
    message = "cannot enforce",
  },
  {
    name = "reconciling a new generation",
    obj = nh(5, { observedGeneration = 5, conditions = {
      cond("Ready", "True", "Enforced", ""), cond("Reconciling", "True", "NewGeneration", "probing generation 5") } }),
    status = "Progressing",
    message = "probing generation 5",
  },
  {
    name = "status of an older generation",
    obj = nh(7, { observedGeneration = 6, conditions = { cond("Ready", "True", "Enforced", "") } }),
    status = "Progressing",
    message = "generation 7",
  },
  {
    name = "status without observedGeneration",
    obj = nh(1, { conditions = { cond("Ready", "True", "Enforced", "") } }),
    status = "Progressing",
  },
  {
    name = "no conditions yet",
    obj = nh(1, { observedGeneration = 1 }),
    status = "Progressing",
  },
}

local failed = 0
for _, c in ipairs(cases) do
  local ok, hs = pcall(check, c.obj)
  local problem
  if not ok then
    problem = "error: " .. tostring(hs)
  elseif type(hs) ~= "table" then
    problem = "returned " .. type(hs)
  elseif hs.status ~= c.status then
    problem = "status " .. tostring(hs.status) .. ", want " .. c.status .. " (" .. tostring(hs.message) .. ")"
  elseif c.message ~= nil and (hs.message == nil or not hs.message:find(c.message, 1, true)) then
    problem = "message " .. tostring(hs.message) .. ", want it to contain " .. c.message
  end
  if problem then
    failed = failed + 1
    print("FAIL " .. c.name .. ": " .. problem)
  else
    print("ok   " .. c.name .. " -> " .. hs.status .. ": " .. tostring(hs.message))
  end
end
print(string.format("%d/%d passed", #cases - failed, #cases))
os.exit(failed == 0 and 0 or 1)
