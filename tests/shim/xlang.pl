#!/usr/bin/perl
# Perl's part of the cross-language test (tests/shim/run.sh, case php-perl-python-ring):
# takes PHP's six messages from key 0x7e60 by type (-2, -2, all but 3, an E2BIG attempt,
# then in order), checks each payload against the rule in xlang.php, and passes each on to
# key 0x7e61 with type + 10 and its bytes reversed. Removes 0x7e60.
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);
use IPC::SysV qw(IPC_CREAT IPC_NOWAIT IPC_RMID MSG_EXCEPT);
$| = 1;

sub payload {
    my ($t, $n) = @_;
    return join "", map { chr(($t * 59 + $n * 3 + $_ * 7) & 0xff) } 0 .. $n - 1;
}
sub errname { return $!{ENOMSG} ? "ENOMSG" : $!{E2BIG} ? "E2BIG" : "errno " . ($! + 0) }

my $in = msgget(0x7e60, 0);
defined $in or die "perl: msgget 0x7e60: $!\n";
my $out = msgget(0x7e61, IPC_CREAT | 0600);
defined $out or die "perl: msgget 0x7e61: $!\n";
my $buf;
for my $want ([-2, 0], [-2, 0], [3, MSG_EXCEPT], [5, 0, 100], [0, IPC_NOWAIT], [0, IPC_NOWAIT],
              [0, IPC_NOWAIT], [0, IPC_NOWAIT]) {
    my ($typ, $flg, $size) = @$want;
    $size //= 9000;
    my $what = "type $typ" . ($flg & MSG_EXCEPT ? " MSG_EXCEPT" : "") . " size $size";
    if (!msgrcv($in, $buf, $size, $typ, $flg | IPC_NOWAIT)) {
        print "perl: $what -> ", errname(), "\n";
        next;
    }
    my ($t, $data) = unpack("l! a*", $buf);
    printf "perl: %s -> type %d, %d bytes, md5 %s, %s\n", $what, $t, length $data, md5_hex($data),
        $data eq payload($t, length $data) ? "intact" : "CORRUPT";
    msgsnd($out, pack("l! a*", $t + 10, scalar reverse $data), 0) or print "perl: msgsnd: $!\n";
}
print "perl: remove 0x7e60 -> ", (msgctl($in, IPC_RMID, 0) ? "ok" : "$!"), "\n";
