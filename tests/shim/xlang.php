<?php
// PHP's half of the cross-language test (tests/shim/run.sh, case php-perl-python-ring):
// PHP -> Perl -> Python -> PHP on three keys, binary payloads, message types, a blocked
// receive woken by another language. Output depends on nothing but the messages.
//   php xlang.php produce   creates key 0x7e60, sends six messages (types 3 1 4 1 5 2)
//   php xlang.php consume   creates key 0x7e62, blocks for type 99 (Python's last), then
//                           takes the rest and checks every payload came back intact
// A payload of type T and length N is the bytes (T*59 + N*3 + j*7) & 0xff, j = 0..N-1
// (the same rule in xlang.pl and xlang.py), so it holds NULs, 0xff and every byte value.
function payload($t, $n)
{
    $s = "";
    for ($j = 0; $j < $n; $j++) {
        $s .= chr(($t * 59 + $n * 3 + $j * 7) & 0xff);
    }
    return $s;
}

set_error_handler(function ($no, $str) {
    echo "php: warning: $str\n";
    return true;
});

$mode = $argv[1] ?? "";
if ($mode === "produce") {
    $q = msg_get_queue(0x7e60, 0600);
    foreach ([[3, 0], [1, 1], [4, 255], [1, 4096], [5, 8192], [2, 17]] as [$t, $n]) {
        $ok = msg_send($q, $t, payload($t, $n), false, false, $err);
        echo "php: sent type $t, $n bytes: " . ($ok ? "ok" : "error $err") . "\n";
    }
    $st = msg_stat_queue($q);
    echo "php: queue holds {$st['msg_qnum']} messages, " .
        ($st["msg_lspid"] == getmypid() ? "last sender me" : "last sender other") . "\n";
} elseif ($mode === "consume") {
    $q = msg_get_queue(0x7e62, 0600);
    // Blocks until Python's last message: a PHP receive woken by a Python send.
    $ok = msg_receive($q, 99, $t, 100, $m, false, 0, $err);
    echo "php: blocked receive of type 99 -> " . ($ok ? "type $t, bytes " . bin2hex($m) : "error $err") . "\n";
    $intact = 0;
    while (msg_receive($q, 0, $t, 10000, $m, false, MSG_IPC_NOWAIT, $err)) {
        $good = $m === payload($t, strlen($m));
        $intact += $good ? 1 : 0;
        printf("php: got type %d, %d bytes, md5 %s, %s\n", $t, strlen($m), md5($m),
            $good ? "intact" : "CORRUPT");
    }
    echo "php: then nothing left (error " . ($err == 42 ? "ENOMSG" : $err) . "), $intact intact\n";
    // E2BIG and MSG_NOERROR on a message Perl cannot shorten for us.
    msg_send($q, 7, payload(7, 300), false);
    $ok = msg_receive($q, 7, $t, 100, $m, false, MSG_IPC_NOWAIT, $err);
    echo "php: 300 bytes into 100 -> " . ($ok ? "ok" : "error " . ($err == 7 ? "E2BIG" : $err)) . "\n";
    $ok = msg_receive($q, 7, $t, 100, $m, false, MSG_IPC_NOWAIT | MSG_NOERROR, $err);
    echo "php: with MSG_NOERROR -> " . ($ok ? strlen($m) . " bytes, " .
        ($m === substr(payload(7, 300), 0, 100) ? "the first 100" : "WRONG") : "error $err") . "\n";
    // The queue stays, for the caller's ipcs.
    msg_send($q, 1, "left for ipcs", false);
} else {
    fwrite(STDERR, "usage: php xlang.php produce|consume\n");
    exit(2);
}
