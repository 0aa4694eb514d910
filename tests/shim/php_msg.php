<?php
// PHP's sysvmsg extension: msg_queue_exists, msg_get_queue, msg_send, msg_receive,
// msg_stat_queue, msg_set_queue, msg_remove_queue, a forked child blocked in msg_receive and
// a second PHP process. Prints results that do not depend on ids, pids or times, so native
// queues and msgq must print the same lines. Run as `php php_msg.php` (key 0x7e5a); the
// second process is this script with the argument `peer`.
$key = 0x7e5a;

// Warnings (a call on a removed queue) without the script's path and line.
set_error_handler(function ($no, $str) {
    echo "warning: $str\n";
    return true;
});

function show($what, $v)
{
    echo $what . ": " . var_export($v, true) . "\n";
}

function stat_line($q)
{
    $st = msg_stat_queue($q);
    if ($st === false) {
        return "stat failed";
    }
    $me = getmypid();
    $who = function ($pid) use ($me) {
        return $pid == 0 ? "0" : ($pid == $me ? "me" : "other");
    };
    return sprintf(
        "uid=%d gid=%d mode=%o qnum=%d qbytes=%d lspid=%s lrpid=%s stime=%s rtime=%s ctime=%s",
        $st["msg_perm.uid"],
        $st["msg_perm.gid"],
        $st["msg_perm.mode"],
        $st["msg_qnum"],
        $st["msg_qbytes"],
        $who($st["msg_lspid"]),
        $who($st["msg_lrpid"]),
        $st["msg_stime"] ? "set" : "0",
        $st["msg_rtime"] ? "set" : "0",
        $st["msg_ctime"] ? "set" : "0"
    );
}

// receive LABEL Q TYPE MAXSIZE UNSERIALIZE FLAGS
function receive($label, $q, $type, $max, $unser, $flags)
{
    $ok = msg_receive($q, $type, $got_type, $max, $msg, $unser, $flags, $err);
    echo "receive $label: " . ($ok ? "type $got_type " . var_export($msg, true) : "false, error $err") . "\n";
}

if (($argv[1] ?? "") === "peer") {
    show("peer: exists", msg_queue_exists($key));
    $q = msg_get_queue($key);
    receive("peer type 0", $q, 0, 100, false, MSG_IPC_NOWAIT);
    msg_send($q, 8, "from the peer", false);
    exit(0);
}

show("exists before", msg_queue_exists($key));
$q = msg_get_queue($key, 0640);
show("msg_get_queue", $q instanceof SysvMessageQueue);
show("exists after", msg_queue_exists($key));
echo "stat new: ", stat_line($q), "\n";

show("send 1 text", msg_send($q, 1, "hello", false));
show("send 2 array (serialised)", msg_send($q, 2, ["a" => 1, "b" => [2, 3]]));
show("send 3 int", msg_send($q, 3, 42, false));
show("send 5 long", msg_send($q, 5, str_repeat("x", 100), false));
show("send 0 type", msg_send($q, 0, "zero", false, true, $err));
echo "  error $err\n";
echo "stat 4 messages: ", stat_line($q), "\n";

receive("type 2", $q, 2, 1024, true, 0);
receive("type -3", $q, -3, 1024, false, 0);
receive("type 5 into 10 bytes", $q, 5, 10, false, 0);
receive("type 5 into 10 bytes, MSG_NOERROR", $q, 5, 10, false, MSG_NOERROR);
receive("type 5 again, nowait", $q, 5, 1024, false, MSG_IPC_NOWAIT);
receive("not type 3, nowait", $q, 3, 1024, false, MSG_IPC_NOWAIT | MSG_EXCEPT);
receive("type 0", $q, 0, 1024, false, 0);
receive("empty, nowait", $q, 0, 1024, false, MSG_IPC_NOWAIT);
echo "stat empty: ", stat_line($q), "\n";

show("set qbytes 64", msg_set_queue($q, ["msg_qbytes" => 64]));
show("send 40 bytes", msg_send($q, 6, str_repeat("y", 40), false, false, $err));
show("send 40 more, not blocking", msg_send($q, 6, str_repeat("z", 40), false, false, $err));
echo "  error $err\n";
show("set mode 0600", msg_set_queue($q, ["msg_perm.mode" => 0600]));
echo "stat after set: ", stat_line($q), "\n";
receive("the 40 bytes", $q, 6, 100, false, 0);

// A forked child blocks until the parent sends its type.
$pid = pcntl_fork();
if ($pid == 0) {
    $ok = msg_receive($q, 9, $t, 100, $m, false, 0, $err);
    echo "child: " . ($ok ? "type $t '$m'" : "error $err") . "\n";
    exit($ok ? 0 : 1);
}
// The parent prints only after the child exited, so the lines never interleave.
$sent = msg_send($q, 9, "for the child", false);
pcntl_waitpid($pid, $status);
show("send to the child", $sent);
echo "child exit ", pcntl_wexitstatus($status), "\n";
$st = msg_stat_queue($q);
show("lrpid is the child", $st["msg_lrpid"] == $pid);

// Another PHP process finds the queue by key, takes this message and leaves one.
msg_send($q, 7, "for the peer", false);
echo shell_exec(escapeshellarg(PHP_BINARY) . " " . escapeshellarg(__FILE__) . " peer 2>&1");
receive("the peer's message", $q, 0, 100, false, MSG_IPC_NOWAIT);
echo "stat end: ", stat_line($q), "\n";

show("remove", msg_remove_queue($q));
show("exists after remove", msg_queue_exists($key));
show("send to removed", msg_send($q, 1, "gone", false, false, $err));
echo "  error $err\n";
receive("from removed", $q, 0, 100, false, MSG_IPC_NOWAIT);
show("stat removed", msg_stat_queue($q));
show("set removed", msg_set_queue($q, ["msg_qbytes" => 100]));
show("remove again", msg_remove_queue($q));
echo "done\n";
