#!lua name=msgq1
-- msgq's Valkey Functions library: the steps of System V message queue calls that must
-- read and change a queue atomically (docs/cluster.md). Every rule that needs no queue state
-- runs in the client, from msgq-core; what is here mirrors msgq-core where it must (named
-- below), and the conformance suite keeps the two equal.
--
-- Versions. The library and its functions carry a version (`msgq1`, `msgq1_snd`): a client
-- whose functions a node lacks loads its own library there (`FUNCTION LOAD REPLACE`), so a
-- newer client with a changed library uses new names and never runs an older body. The
-- number changes with any change of a function's arguments or results.
--
-- Conventions. KEYS[1] is the queue's hash `{msgq:NS:I}:q` (every other key of the queue
-- shares its hash tag, so its slot) or the registry's `{msgq:NS}:reg`. Types are 19-digit
-- zero-padded decimal strings (Lua numbers are doubles: a 64-bit mtype would lose digits),
-- which compare as the numbers do. Results are arrays whose first element is 0 (done), a
-- negative errno, or a word ('WAIT', 'RETRY').
--
-- A waiter (a blocked call) is a hash `P:w:W` plus an entry in `P:rw` (receivers) or `P:sw`
-- (senders), scored by arrival, and in `P:leases`, scored by its lease's end. Outcomes are
-- pushed to its wake-up list `P:k:W`: 'M<arrival>|<type>|<text>' (a message handed over),
-- 'C<arrival>|<type>|<text>' (a copy: a peek or a broadcast; never given back), 'E<errno>',
-- 'A' (look again). Blocked peekers (MSGQ_PEEK) wait in `P:pw`, the watchers of
-- `msgq_select` in `P:ww`. The client moves them to `P:f:W` with BLMOVE and settles.

-- The lease of a waiter (ms) unless the caller gives one (its last argument).
local LEASE_MS = 10000

local function lease_of(v)
  local n = tonumber(v)
  if n == nil or n < 100 then return LEASE_MS end
  return n
end
local EIDRM, EINVAL, EACCES, EAGAIN, ENOMSG, E2BIG = 43, 22, 13, 11, 42, 7
local ECANCELED, EMSGSIZE = 125, 90

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function prefix(qkey)
  return string.sub(qkey, 1, #qkey - 2)
end

-- msgq-core perm::ipcperms. `cred` is "euid,caps,g1,g2,...": caps bit 1 CAP_IPC_OWNER.
local function parse_cred(s)
  local c = { groups = {} }
  local i = 0
  for part in string.gmatch(s, '[^,]+') do
    i = i + 1
    if i == 1 then c.euid = part
    elseif i == 2 then c.caps = tonumber(part)
    else c.groups[part] = true end
  end
  return c
end

local function ipcperms(q, cred, flag)
  local req = bit.band(bit.bor(bit.rshift(flag, 6), bit.rshift(flag, 3), flag), 7)
  local mode = tonumber(q.mode)
  local shift = 0
  if cred.euid == q.cuid or cred.euid == q.uid then shift = 6
  elseif cred.groups[q.cgid] or cred.groups[q.gid] then shift = 3 end
  local granted = bit.band(bit.rshift(mode, shift), 7)
  if bit.band(req, bit.bnot(granted)) ~= 0 and bit.band(cred.caps, 1) == 0 then
    return false
  end
  return true
end

local function load_queue(qkey)
  local flat = redis.call('HGETALL', qkey)
  if #flat == 0 then return nil end
  local q = {}
  for i = 1, #flat, 2 do q[flat[i]] = flat[i + 1] end
  return q
end

-- msgq-core limits::fits: the message count is compared with the byte limit too.
local function fits(q, size)
  local qbytes = tonumber(q.qbytes)
  return size + tonumber(q.cbytes) <= qbytes and tonumber(q.qnum) + 1 <= qbytes
end

-- msgq-core select::Mode::accepts. kind: 0 any, 1 equal, 2 not equal, 3 less or equal.
local function accepts(kind, t, mtype)
  if kind == 0 then return true
  elseif kind == 1 then return mtype == t
  elseif kind == 2 then return mtype ~= t
  elseif kind == 3 then return mtype <= t end
  return false
end

local function split_msg(v)
  local a = string.find(v, '|', 2, true)
  local b = string.find(v, '|', a + 1, true)
  return string.sub(v, 2, a - 1), string.sub(v, a + 1, b - 1), string.sub(v, b + 1)
end

local function forget_waiter(p, wid)
  redis.call('DEL', p .. ':w:' .. wid, p .. ':k:' .. wid, p .. ':f:' .. wid)
  redis.call('ZREM', p .. ':rw', wid)
  redis.call('ZREM', p .. ':sw', wid)
  redis.call('ZREM', p .. ':pw', wid)
  redis.call('ZREM', p .. ':ww', wid)
  redis.call('ZREM', p .. ':leases', wid)
end

-- Puts a message into the queue at its arrival number (no fit test: the caller made room,
-- or gives back a message that was counted out).
local function enqueue(p, qkey, arrival, mtype, text)
  redis.call('ZADD', p .. ':order', arrival, arrival)
  redis.call('HSET', p .. ':m', arrival, mtype .. '|' .. text)
  redis.call('ZADD', p .. ':t:' .. mtype, arrival, arrival)
  redis.call('ZADD', p .. ':types', 0, mtype)
  redis.call('HINCRBY', qkey, 'cbytes', #text)
  redis.call('HINCRBY', qkey, 'qnum', 1)
end

local function unlink_msg(p, qkey, arrival, mtype, size)
  redis.call('ZREM', p .. ':order', arrival)
  redis.call('HDEL', p .. ':m', arrival)
  local tk = p .. ':t:' .. mtype
  redis.call('ZREM', tk, arrival)
  if redis.call('ZCARD', tk) == 0 then redis.call('ZREM', p .. ':types', mtype) end
  redis.call('HINCRBY', qkey, 'cbytes', -size)
  redis.call('HINCRBY', qkey, 'qnum', -1)
end

-- pipelined_send: the oldest matching blocked receiver gets the message; a matching one
-- whose buffer is too small gets E2BIG and the walk goes on. Returns true if handed over.
local function hand_off(p, qkey, arrival, mtype, text, now)
  local rs = redis.call('ZRANGE', p .. ':rw', 0, -1)
  for _, wid in ipairs(rs) do
    local wk = p .. ':w:' .. wid
    local w = redis.call('HMGET', wk, 'kind', 'type', 'maxsize', 'tid')
    if w[1] and accepts(tonumber(w[1]), w[2], mtype) then
      redis.call('ZREM', p .. ':rw', wid)
      if tonumber(w[3]) < #text then
        redis.call('RPUSH', p .. ':k:' .. wid, 'E' .. E2BIG)
      else
        redis.call('RPUSH', p .. ':k:' .. wid, 'M' .. arrival .. '|' .. mtype .. '|' .. text)
        redis.call('HSET', qkey, 'lrpid', w[4], 'rtime', math.floor(now / 1000))
        return true
      end
    end
  end
  return false
end

-- Copies to the blocked peekers that accept the message (E2BIG to one whose buffer is too
-- small); they leave the peekers' list. Returns how many got a copy.
local function give_peekers(p, arrival, mtype, text)
  local n = 0
  for _, wid in ipairs(redis.call('ZRANGE', p .. ':pw', 0, -1)) do
    local w = redis.call('HMGET', p .. ':w:' .. wid, 'kind', 'type', 'maxsize')
    if w[1] and accepts(tonumber(w[1]), w[2], mtype) then
      redis.call('ZREM', p .. ':pw', wid)
      if tonumber(w[3]) < #text then
        redis.call('RPUSH', p .. ':k:' .. wid, 'E' .. E2BIG)
      else
        redis.call('RPUSH', p .. ':k:' .. wid, 'C' .. arrival .. '|' .. mtype .. '|' .. text)
        n = n + 1
      end
    end
  end
  return n
end

-- The watchers (msgq_select) whose selector accepts a message of type `mtype` are told to
-- look again ('A') and leave the list.
local function wake_watchers(p, mtype)
  for _, wid in ipairs(redis.call('ZRANGE', p .. ':ww', 0, -1)) do
    local w = redis.call('HMGET', p .. ':w:' .. wid, 'kind', 'type')
    if w[1] and accepts(tonumber(w[1]), w[2], mtype) then
      redis.call('ZREM', p .. ':ww', wid)
      redis.call('RPUSH', p .. ':k:' .. wid, 'A')
    end
  end
end

-- MSGQ_BROADCAST: a copy to every blocked receiver that accepts the message (E2BIG to one
-- whose buffer is too small), oldest first. Returns how many got one.
local function broadcast(p, qkey, arrival, mtype, text, now)
  local n = 0
  for _, wid in ipairs(redis.call('ZRANGE', p .. ':rw', 0, -1)) do
    local w = redis.call('HMGET', p .. ':w:' .. wid, 'kind', 'type', 'maxsize', 'tid')
    if w[1] and accepts(tonumber(w[1]), w[2], mtype) then
      redis.call('ZREM', p .. ':rw', wid)
      if tonumber(w[3]) < #text then
        redis.call('RPUSH', p .. ':k:' .. wid, 'E' .. E2BIG)
      else
        redis.call('RPUSH', p .. ':k:' .. wid, 'C' .. arrival .. '|' .. mtype .. '|' .. text)
        redis.call('HSET', qkey, 'lrpid', w[4], 'rtime', math.floor(now / 1000))
        n = n + 1
      end
    end
  end
  return n
end

-- ss_wakeup without kill: each blocked sender whose message fits now is told to look again
-- (and leaves the list: it re-queues at the tail if it still does not fit); one that does
-- not fit moves to the tail. Each sender is visited once.
local function wake_senders(p, qkey)
  local ss = redis.call('ZRANGE', p .. ':sw', 0, -1)
  if #ss == 0 then return end
  local q = load_queue(qkey)
  for _, wid in ipairs(ss) do
    local size = tonumber(redis.call('HGET', p .. ':w:' .. wid, 'msgsz') or 0)
    if fits(q, size) then
      redis.call('ZREM', p .. ':sw', wid)
      redis.call('RPUSH', p .. ':k:' .. wid, 'A')
    else
      redis.call('ZADD', p .. ':sw', redis.call('HINCRBY', qkey, 'wseq', 1), wid)
    end
  end
end

-- A message handed to a waiter that will never take it goes back: offered again to the
-- blocked receivers, else queued at its own arrival number (its old place).
local function give_back(p, qkey, v, now)
  local arrival, mtype, text = split_msg(v)
  if not hand_off(p, qkey, arrival, mtype, text, now) then
    enqueue(p, qkey, arrival, mtype, text)
  end
end

-- Waiters whose lease lapsed (their client died or lost the server): their outcomes are
-- given back or dropped, their records removed.
local function reap(p, qkey, now)
  local dead = redis.call('ZRANGEBYSCORE', p .. ':leases', '-inf', now)
  for _, wid in ipairs(dead) do
    for _, list in ipairs({ p .. ':f:' .. wid, p .. ':k:' .. wid }) do
      for _, v in ipairs(redis.call('LRANGE', list, 0, -1)) do
        if string.sub(v, 1, 1) == 'M' then give_back(p, qkey, v, now) end
      end
    end
    forget_waiter(p, wid)
  end
end

local function check_id(q, id)
  return q ~= nil and q.id == id
end

local function new_waiter(p, qkey, list, fields, now, lease)
  local wid = tostring(redis.call('HINCRBY', qkey, 'wseq', 1))
  local wk = p .. ':w:' .. wid
  redis.call('HSET', wk, unpack(fields))
  redis.call('HSET', wk, 'lease', lease)
  redis.call('ZADD', p .. list, tonumber(wid), wid)
  redis.call('ZADD', p .. ':leases', now + lease, wid)
  return wid
end

-- The start of most queue functions: reaps lapsed waiters, finds the queue `args[1]` names
-- (EINVAL) and checks the caller's permission `perm` (EACCES; nil: none). Returns the key
-- prefix, the queue and the time, or nil and the reply to give.
local function enter(keys, args, perm)
  local qkey = keys[1]
  local p = prefix(qkey)
  local now = now_ms()
  reap(p, qkey, now)
  local q = load_queue(qkey)
  if not check_id(q, args[1]) then return nil, { -EINVAL } end
  if perm ~= nil and not ipcperms(q, parse_cred(args[2]), perm) then
    return nil, { -EACCES }
  end
  return p, q, now
end

-- The start of IPC_SET and IPC_RMID: the queue `args[1]` names, whose owner and creator
-- must still be `args[2]` and `args[3]` (what the client's decision saw; else RETRY).
local function enter_owned(keys, args)
  local q = load_queue(keys[1])
  if not check_id(q, args[1]) then return nil, { -EINVAL } end
  if q.uid ~= args[2] or q.cuid ~= args[3] then return nil, { 'RETRY' } end
  return prefix(keys[1]), q
end

-- Pushes `outcome` to every waiter in the lists `lists`, unlinking them if `unlink`.
-- Returns how many.
local function tell_all(p, lists, outcome, unlink)
  local n = 0
  for _, l in ipairs(lists) do
    for _, wid in ipairs(redis.call('ZRANGE', p .. l, 0, -1)) do
      if unlink then redis.call('ZREM', p .. l, wid) end
      redis.call('RPUSH', p .. ':k:' .. wid, outcome)
      n = n + 1
    end
  end
  return n
end

-- msgq1_create(qkey; id, key, mode, uid, gid, qbytes): the queue of a reserved id.
local function create(keys, args)
  local qkey = keys[1]
  if redis.call('EXISTS', qkey) == 1 then return { -17 } end
  local now = now_ms()
  redis.call('HSET', qkey, 'id', args[1], 'key', args[2], 'mode', args[3],
    'uid', args[4], 'gid', args[5], 'cuid', args[4], 'cgid', args[5], 'qbytes', args[6],
    'cbytes', 0, 'qnum', 0, 'lspid', 0, 'lrpid', 0, 'stime', 0, 'rtime', 0,
    'ctime', math.floor(now / 1000), 'next', 1, 'front', 0, 'wseq', 0)
  return { 0 }
end

-- msgq1_open(qkey; id, cred, flag): msgget on an existing queue (permission only).
local function open(keys, args)
  local q = load_queue(keys[1])
  if not check_id(q, args[1]) then return { -EINVAL } end
  if not ipcperms(q, parse_cred(args[2]), tonumber(args[3])) then return { -EACCES } end
  return { 0 }
end

-- msgq1_snd(qkey; id, cred, mtype, text, nowait, pid, urgent, lease, mode, perm)
-- mode: '' (plain), 'o' (MSGQ_OVERWRITE), 'b' (MSGQ_BROADCAST); perm: the permission the
-- send needs (msgq-core ext::SendExt::perm). Returns {0, dropped, given}.
local function drop_oldest(p, qkey)
  local a = redis.call('ZRANGE', p .. ':order', 0, 0)[1]
  if a == nil then return false end
  local v = redis.call('HGET', p .. ':m', a)
  unlink_msg(p, qkey, a, string.sub(v, 1, 19), #v - 20)
  return true
end

local function snd(keys, args)
  local qkey = keys[1]
  local p, q, now = enter(keys, args, tonumber(args[10] or 146))
  if p == nil then return q end
  local mode = args[9] or ''
  local mtype, text = args[3], args[4]
  local dropped = 0
  if mode == 'o' then
    -- msgq-core ext::overwrite_can_fit: fits an empty queue, else EMSGSIZE.
    local qbytes = tonumber(q.qbytes)
    if not (#text <= qbytes and 1 <= qbytes) then return { -EMSGSIZE } end
    while not fits(q, #text) do
      if not drop_oldest(p, qkey) then break end
      dropped = dropped + 1
      q = load_queue(qkey)
    end
  end
  if not fits(q, #text) then
    if args[5] == '1' then return { -EAGAIN } end
    local wid = new_waiter(p, qkey, ':sw', { 'msgsz', #text }, now,
      lease_of(args[8]))
    return { 'WAIT', wid }
  end
  redis.call('HSET', qkey, 'lspid', args[6], 'stime', math.floor(now / 1000))
  local arrival
  if args[7] == '1' then
    arrival = redis.call('HINCRBY', qkey, 'front', -1)
  else
    arrival = redis.call('HINCRBY', qkey, 'next', 1) - 1
  end
  local given = give_peekers(p, arrival, mtype, text)
  wake_watchers(p, mtype)
  local queued = false
  if mode == 'b' then
    local n = broadcast(p, qkey, arrival, mtype, text, now)
    given = given + n
    if n == 0 then
      enqueue(p, qkey, arrival, mtype, text)
      queued = true
    end
  elseif not hand_off(p, qkey, arrival, mtype, text, now) then
    enqueue(p, qkey, arrival, mtype, text)
    queued = true
  end
  -- Blocked senders stay blocked when the room went to this message; when it was handed
  -- over instead, the dropped messages' room may let some in.
  if dropped > 0 and not queued then wake_senders(p, qkey) end
  return { 0, dropped, given }
end

-- The arrival number of the message `kind`/`t` selects (Linux's find_msg), or nil.
local function find(p, kind, t)
  if kind == 0 then
    return redis.call('ZRANGE', p .. ':order', 0, 0)[1]
  elseif kind == 1 then
    return redis.call('ZRANGE', p .. ':t:' .. t, 0, 0)[1]
  elseif kind == 3 then
    local ty = redis.call('ZRANGEBYLEX', p .. ':types', '-', '[' .. t, 'LIMIT', 0, 1)[1]
    if ty == nil then return nil end
    return redis.call('ZRANGE', p .. ':t:' .. ty, 0, 0)[1]
  elseif kind == 2 then
    -- The first message not of type t: walk the queue (Linux walks its list too).
    local from = 0
    while true do
      local batch = redis.call('ZRANGE', p .. ':order', from, from + 63)
      if #batch == 0 then return nil end
      for _, a in ipairs(batch) do
        local v = redis.call('HGET', p .. ':m', a)
        if string.sub(v, 1, 19) ~= t then return a end
      end
      from = from + 64
    end
  elseif kind == 4 then
    local n = tonumber(t)
    if n < 0 then return nil end
    return redis.call('ZRANGE', p .. ':order', n, n)[1]
  end
  return nil
end

-- msgq1_rcv(qkey; id, cred, kind, type, msgsz, noerror, nowait, pid, tid, msgmax, lease,
-- peek): with peek '1' (MSGQ_PEEK) a copy of the message, left queued; a blocked peeker
-- gets a copy of the next matching message sent.
-- kind 4 is MSG_COPY (type = position; msgmax: the current limit, for copy_fits).
local function rcv(keys, args)
  local qkey = keys[1]
  local p, q, now = enter(keys, args, 292)
  if p == nil then return q end
  local kind, t = tonumber(args[3]), args[4]
  local msgsz = tonumber(args[5])
  local a = find(p, kind, t)
  if a ~= nil then
    local v = redis.call('HGET', p .. ':m', a)
    local mtype, text = string.sub(v, 1, 19), string.sub(v, 21)
    -- msgq-core checks::receive_len and copy_fits
    if msgsz < #text and args[6] ~= '1' then return { -E2BIG } end
    if kind == 4 then
      local cap = math.min(msgsz, tonumber(args[10]))
      if #text > cap then return { -EINVAL } end
      return { 0, mtype, text }
    end
    if args[12] == '1' then return { 0, mtype, text } end
    unlink_msg(p, qkey, a, mtype, #text)
    redis.call('HSET', qkey, 'rtime', math.floor(now / 1000), 'lrpid', args[8])
    wake_senders(p, qkey)
    return { 0, mtype, text }
  end
  if args[7] == '1' then return { -ENOMSG } end
  local maxsize = msgsz
  if args[6] == '1' then maxsize = 2147483647 end
  local list = ':rw'
  if args[12] == '1' then list = ':pw' end
  local wid = new_waiter(p, qkey, list,
    { 'kind', kind, 'type', t, 'maxsize', maxsize, 'tid', args[9] }, now,
    lease_of(args[11]))
  return { 'WAIT', wid }
end

-- msgq1_settle(qkey; wid, how): after a wait. how: 'ack' (an outcome was moved to the
-- in-flight list), 'renew' (the wait timed out: keep waiting), 'cancel' (a signal or the
-- caller's deadline). A message among the outcomes always wins; then an error; then 'A'.
-- Returns {0, 'M', type, text} / {0, 'E', errno} / {0, 'A'} / {0, 'W'} (still waiting) /
-- {0, 'N'} (nothing: cancelled) / {0, 'G'} (the waiter is gone: look again).
local function settle(keys, args)
  local qkey = keys[1]
  local p = prefix(qkey)
  local wid, how = args[1], args[2]
  local now = now_ms()
  if redis.call('EXISTS', p .. ':w:' .. wid) == 0 then
    -- Reaped, or its queue removed: any outcome left is still in the lists.
    local out = redis.call('LRANGE', p .. ':f:' .. wid, 0, -1)
    for _, v in ipairs(redis.call('LRANGE', p .. ':k:' .. wid, 0, -1)) do out[#out + 1] = v end
    redis.call('DEL', p .. ':k:' .. wid, p .. ':f:' .. wid)
    local best = nil
    for _, v in ipairs(out) do
      local c = string.sub(v, 1, 1)
      if c == 'M' or c == 'C' then best = v; break end
      if c == 'E' and best == nil then best = v end
    end
    if best == nil then return { 0, 'G' } end
    local b = string.sub(best, 1, 1)
    if b == 'M' or b == 'C' then
      local _, mtype, text = split_msg(best)
      return { 0, 'M', mtype, text }
    end
    return { 0, 'E', tonumber(string.sub(best, 2)) }
  end
  local out = redis.call('LRANGE', p .. ':f:' .. wid, 0, -1)
  for _, v in ipairs(redis.call('LRANGE', p .. ':k:' .. wid, 0, -1)) do out[#out + 1] = v end
  local msg, err, again = nil, nil, false
  for _, v in ipairs(out) do
    local c = string.sub(v, 1, 1)
    if (c == 'M' or c == 'C') and msg == nil then msg = v
    elseif c == 'E' and err == nil then err = v
    elseif c == 'A' then again = true end
  end
  if msg == nil and err == nil and not again and how == 'renew' then
    local lease = lease_of(redis.call('HGET', p .. ':w:' .. wid, 'lease'))
    redis.call('ZADD', p .. ':leases', now + lease, wid)
    return { 0, 'W' }
  end
  forget_waiter(p, wid)
  if msg ~= nil then
    local _, mtype, text = split_msg(msg)
    return { 0, 'M', mtype, text }
  end
  if err ~= nil then return { 0, 'E', tonumber(string.sub(err, 2)) } end
  if again then return { 0, 'A' } end
  return { 0, 'N' }
end

-- msgq1_stat(qkey; id or '', cred, need_read): the queue's fields (after reaping).
local function stat(keys, args)
  local qkey = keys[1]
  local p = prefix(qkey)
  reap(p, qkey, now_ms())
  local q = load_queue(qkey)
  if q == nil or (args[1] ~= '' and q.id ~= args[1]) then return { -EINVAL } end
  if args[3] == '1' and not ipcperms(q, parse_cred(args[2]), 292) then return { -EACCES } end
  return { 0, q.id, q.key, q.uid, q.gid, q.cuid, q.cgid, q.mode, q.stime, q.rtime, q.ctime,
    q.cbytes, q.qnum, q.qbytes, q.lspid, q.lrpid }
end

-- msgq1_set(qkey; id, uid0, cuid0, uid, gid, mode, qbytes): IPC_SET as the client decided
-- (msgq-core ctl::ipc_set) from a stat that saw owner uid0 and creator cuid0: applied only
-- if those are unchanged (else RETRY). Blocked receivers look again, senders that fit too.
local function set(keys, args)
  local qkey = keys[1]
  local p, q = enter_owned(keys, args)
  if p == nil then return q end
  redis.call('HSET', qkey, 'uid', args[4], 'gid', args[5], 'mode', args[6],
    'qbytes', args[7], 'ctime', math.floor(now_ms() / 1000))
  tell_all(p, { ':rw', ':pw', ':ww' }, 'A', false)
  wake_senders(p, qkey)
  return { 0 }
end

-- msgq1_rmid(qkey; id, uid0, cuid0): IPC_RMID as the client decided (may_control) from a
-- stat that saw uid0/cuid0. Every waiter gets EIDRM; the wake-up lists outlive the queue
-- for a while, so blocked clients still find their outcome.
local function rmid(keys, args)
  local qkey = keys[1]
  local p, q = enter_owned(keys, args)
  if p == nil then return q end
  local ws = redis.call('ZRANGE', p .. ':leases', 0, -1)
  for _, wid in ipairs(ws) do
    local k = p .. ':k:' .. wid
    redis.call('RPUSH', k, 'E' .. EIDRM)
    local lease = lease_of(redis.call('HGET', p .. ':w:' .. wid, 'lease'))
    redis.call('PEXPIRE', k, 3 * lease)
    redis.call('PEXPIRE', p .. ':f:' .. wid, 3 * lease)
    redis.call('DEL', p .. ':w:' .. wid)
  end
  for _, ty in ipairs(redis.call('ZRANGE', p .. ':types', 0, -1)) do
    redis.call('DEL', p .. ':t:' .. ty)
  end
  redis.call('DEL', qkey, p .. ':order', p .. ':m', p .. ':types', p .. ':rw', p .. ':sw',
    p .. ':pw', p .. ':ww', p .. ':leases')
  return { 0, tonumber(q.qnum), tonumber(q.cbytes) }
end

-- msgq1_purge(qkey; id, cred): MSGQ_PURGE: every message discarded (read permission,
-- msgq-core ext::PURGE_PERM); not a receive (rtime, lrpid stay). Blocked senders that now
-- fit are woken. Returns {0, n, bytes}.
local function purge(keys, args)
  local qkey = keys[1]
  local p, q = enter(keys, args, 292)
  if p == nil then return q end
  local n, bytes = tonumber(q.qnum), tonumber(q.cbytes)
  for _, ty in ipairs(redis.call('ZRANGE', p .. ':types', 0, -1)) do
    redis.call('DEL', p .. ':t:' .. ty)
  end
  redis.call('DEL', p .. ':order', p .. ':m', p .. ':types')
  redis.call('HSET', qkey, 'qnum', 0, 'cbytes', 0)
  wake_senders(p, qkey)
  return { 0, n, bytes }
end

-- msgq1_abort(qkey; id, cred, need, receivers, senders): MSGQ_ABORT: the blocked
-- receivers and peekers ('1') and/or senders ('1') fail with ECANCELED; `need` is the
-- permission msgq-core's ext::abort_perm asks. Returns {0, n}.
local function abort(keys, args)
  local p, q = enter(keys, args, tonumber(args[3]))
  if p == nil then return q end
  local lists = {}
  if args[4] == '1' then lists[#lists + 1] = ':rw'; lists[#lists + 1] = ':pw' end
  if args[5] == '1' then lists[#lists + 1] = ':sw' end
  return { 0, tell_all(p, lists, 'E' .. ECANCELED, true) }
end

-- msgq1_watch(qkey; id, cred, kind, type, lease): msgq_select's look at one queue: {0, 1}
-- if a receive with this selector would find a message, else a watcher is left ({'WAIT',
-- wid}) that a matching send, IPC_SET or the removal wakes. Read permission (EACCES).
local function watch(keys, args)
  local p, q, now = enter(keys, args, 292)
  if p == nil then return q end
  local kind, t = tonumber(args[3]), args[4]
  if find(p, kind, t) ~= nil then return { 0, 1 } end
  local wid = new_waiter(p, keys[1], ':ww', { 'kind', kind, 'type', t }, now,
    lease_of(args[5]))
  return { 'WAIT', wid }
end

-- msgq1_exists(qkey; id): 1 if the queue of that id exists.
local function exists(keys, args)
  local q = load_queue(keys[1])
  if check_id(q, args[1]) then return 1 end
  return 0
end

-- The registry: `{msgq:NS}:reg` holds `ver` and the limits, `...:ids` index -> id,
-- `...:keys` key -> id, `...:pending` id -> deadline. The client reads a snapshot, decides
-- with msgq-core (msgget's order, msgmni, id allocation) and applies its changes only if the
-- version is unchanged.

-- msgq1_reg_snapshot(reg): {ver, limits (flat), alloc (flat), ids (flat), keys (flat),
-- pending (flat), now}
local function reg_snapshot(keys, args)
  local r = keys[1]
  return { tonumber(redis.call('HGET', r, 'ver') or 0), redis.call('HGETALL', r),
    redis.call('HGETALL', r .. ':alloc'), redis.call('HGETALL', r .. ':ids'),
    redis.call('HGETALL', r .. ':keys'), redis.call('HGETALL', r .. ':pending'), now_ms() }
end

-- msgq1_reg_lookup(reg; key): {ver, id or false, pending deadline or false, now}
local function reg_lookup(keys, args)
  local r = keys[1]
  local id = redis.call('HGET', r .. ':keys', args[1])
  local pend = false
  if id then pend = redis.call('HGET', r .. ':pending', id) or false end
  return { tonumber(redis.call('HGET', r, 'ver') or 0), id or false, pend, now_ms() }
end

-- msgq1_reg_apply(reg; ver, op, field, value, ...): if the version is `ver`, applies each
-- op ('hset' suffix field value / 'hdel' suffix field; suffix '' is the registry hash,
-- else ':ids', ':keys', ':pending', ':alloc'), bumps the version and returns {0, newver};
-- else {'RETRY'}. A pending deadline given as '+N' is now + N ms.
local function reg_apply(keys, args)
  local r = keys[1]
  local ver = tonumber(redis.call('HGET', r, 'ver') or 0)
  if tonumber(args[1]) ~= ver then return { 'RETRY' } end
  local now = now_ms()
  local i = 2
  while i <= #args do
    local op, suffix = args[i], args[i + 1]
    if op == 'hset' then
      local v = args[i + 3]
      if string.sub(v, 1, 1) == '+' then v = tostring(now + tonumber(string.sub(v, 2))) end
      redis.call('HSET', r .. suffix, args[i + 2], v)
      i = i + 4
    elseif op == 'hdel' then
      redis.call('HDEL', r .. suffix, args[i + 2])
      i = i + 3
    else
      return redis.error_reply('msgq: bad registry op ' .. tostring(op))
    end
  end
  redis.call('HSET', r, 'ver', ver + 1)
  return { 0, ver + 1 }
end

redis.register_function('msgq1_create', create)
redis.register_function('msgq1_open', open)
redis.register_function('msgq1_snd', snd)
redis.register_function('msgq1_rcv', rcv)
redis.register_function('msgq1_settle', settle)
redis.register_function('msgq1_stat', stat)
redis.register_function('msgq1_set', set)
redis.register_function('msgq1_rmid', rmid)
redis.register_function('msgq1_exists', exists)
redis.register_function('msgq1_purge', purge)
redis.register_function('msgq1_abort', abort)
redis.register_function('msgq1_watch', watch)
redis.register_function('msgq1_reg_snapshot', reg_snapshot)
redis.register_function('msgq1_reg_lookup', reg_lookup)
redis.register_function('msgq1_reg_apply', reg_apply)
