#!/usr/bin/perl
# The classic Perl timeout: `alarm 1; msgrcv(...)` on an empty queue (and msgsnd on a full
# one) must fail with EINTR each time ($! == EINTR), as on Linux, while a forked child
# hammers another queue (in the same store under the shim). Perl installs its %SIG
# handler with sigaction; the Perl sub runs after the call returns. A call that misses
# its EINTR would wait for ever: the calls run in a child, which the parent kills after a
# deadline, printing "HUNG". Usage: perl_alarm.pl [TRIES]
use strict;
use warnings;
use Errno qw(EINTR);
use IPC::SysV qw(IPC_PRIVATE IPC_CREAT IPC_NOWAIT IPC_RMID);
use IPC::Msg;
$| = 1;

my $tries = shift // 3;
my $top = $$;

my $hq = msgget(IPC_PRIVATE, IPC_CREAT | 0600) // die "msgget: $!";
my $hammer = fork() // die "fork: $!";
if ($hammer == 0) {
    my $b;
    for (my $i = 0; ; $i++) {
        msgsnd($hq, pack("l! a*", 1, "12345678"), IPC_NOWAIT);
        msgrcv($hq, $b, 64, 0, IPC_NOWAIT);
        exit 0 if $i % 1000 == 0 && getppid() != $top;
    }
}

my $rq = msgget(IPC_PRIVATE, IPC_CREAT | 0600) // die "msgget: $!";
my $sq = IPC::Msg->new(IPC_PRIVATE, IPC_CREAT | 0600) // die "IPC::Msg: $!";
$sq->set(qbytes => 8) or die "set: $!";
$sq->snd(1, "12345678", IPC_NOWAIT) or die "snd: $!";

my $worker = fork() // die "fork: $!";
if ($worker == 0) {
    my $ran = 0;
    $SIG{ALRM} = sub { $ran++ };
    for my $op ("msgrcv on an empty queue", "msgsnd on a full queue") {
        my ($eintr, @other) = (0);
        $ran = 0;
        for my $i (1 .. $tries) {
            alarm 1;
            my $buf;
            my $r = $op =~ /^msgrcv/ ? msgrcv($rq, $buf, 64, 0, 0)
                                     : msgsnd($sq->id, pack("l! a*", 1, "x"), 0);
            my $e = $! + 0;
            alarm 0;
            if ($r) { push @other, "call $i: succeeded" }
            elsif ($e == EINTR) { $eintr++ }
            else { push @other, "call $i: errno $e" }
        }
        print "perl alarm: $op: $eintr of $tries calls gave EINTR, the handler ran $ran times",
            (map { "; $_" } @other), "\n";
    }
    exit 0;
}

my $limit = 2 * $tries + 10;
my $done = eval {
    local $SIG{ALRM} = sub { die "deadline\n" };
    alarm $limit;
    waitpid($worker, 0);
    alarm 0;
    1;
};
unless ($done) {
    kill 'KILL', $worker;
    waitpid($worker, 0);
    print "perl alarm: HUNG: a call missed its EINTR and was still waiting after ${limit}s\n";
}
kill 'KILL', $hammer;
waitpid($hammer, 0);
msgctl($rq, IPC_RMID, 0);
$sq->remove;
msgctl($hq, IPC_RMID, 0);
