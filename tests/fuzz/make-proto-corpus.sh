#!/bin/sh
# make-proto-corpus.sh — writes the seed corpus of fuzz_proto into tests/fuzz/corpus/proto/.
#
# Each seed is what a client could POST over a connection: a handshake record, then hub messages,
# each ending in RS (0x1E, written \036 here). Valid traffic in the JS client's property order
# ("type" last) comes first, then one seed per rejection path in sr_proto.c, so the fuzzer starts
# with every branch covered. Re-run after editing; files are overwritten, never appended to.
# Usage: tests/fuzz/make-proto-corpus.sh [DIR]
set -eu

dir=${1:-$(dirname "$0")/corpus/proto}
mkdir -p "$dir"

HS='{"protocol":"json","version":1}\036'

# seed NAME FORMAT: FORMAT is a printf format; it must not contain a bare %.
seed() {
    printf "$2" > "$dir/$1"
}

# nest N: N opening brackets, a 1, N closing ones.
nest() {
    i=0 open='' close=''
    while [ "$i" -lt "$1" ]; do open="$open["; close="$close]"; i=$((i + 1)); done
    printf '%s1%s' "$open" "$close"
}

# Handshakes
seed hs-json-v1 "$HS"
seed hs-json-v2 '{"protocol":"json","version":2}\036'
seed hs-version-last '{"version":1,"protocol":"json"}\036'
seed hs-uppercase '{"protocol":"JSON","version":1}\036'
seed hs-extra-props '{"protocol":"json","version":1,"minorVersion":0,"x":{"y":[null]}}\036'
seed hs-messagepack '{"protocol":"messagepack","version":1}\036'
seed hs-version-3 '{"protocol":"json","version":3}\036'
seed hs-version-string '{"protocol":"json","version":"1"}\036'
seed hs-version-real '{"protocol":"json","version":1.0}\036'
seed hs-version-int32-overflow '{"protocol":"json","version":2147483648}\036'
seed hs-missing-protocol '{"version":1}\036'
seed hs-missing-version '{"protocol":"json"}\036'
seed hs-protocol-null '{"protocol":null,"version":1}\036'
seed hs-not-object '["json",1]\036'
seed hs-garbage 'GET / HTTP/1.1\r\n\r\n\036'
seed hs-truncated '{"protocol":"json","vers'
seed hs-empty '\036'
seed hs-long-protocol '{"protocol":"jsonjsonjsonjsonjsonjsonjsonjsonjsonjsonjsonjsonjsonjsonjsonjson","version":1}\036'

# Valid traffic after a handshake
seed msg-invoke-js-order "$HS"'{"arguments":["alice","hi"],"invocationId":"0","target":"Send","type":1}\036'
seed msg-send-nonblocking "$HS"'{"arguments":[1,2.5,true,null,{"a":[]}],"target":"Broadcast","type":1}\036'
seed msg-invoke-type-first "$HS"'{"type":1,"invocationId":"7","target":"x","arguments":[]}\036'
seed msg-upload-stream "$HS"'{"arguments":[],"invocationId":"1","streamIds":["0"],"target":"Upload","type":1}\036{"invocationId":"0","item":"a","type":2}\036{"invocationId":"0","item":null,"type":2}\036{"invocationId":"0","type":3}\036'
seed msg-stream-invocation "$HS"'{"arguments":[10,500],"invocationId":"2","target":"Counter","type":4}\036{"invocationId":"2","type":5}\036'
seed msg-client-results "$HS"'{"invocationId":"s1","result":{"ok":true},"type":3}\036{"error":"Client didn'"'"'t provide a result.","invocationId":"s2","type":3}\036{"invocationId":"s3","result":null,"type":3}\036'
seed msg-ping "$HS"'{"type":6}\036{"type":6}\036'
seed msg-close "$HS"'{"type":7}\036{"type":7,"error":"bye","allowReconnect":true}\036{"type":7,"error":null,"allowReconnect":false}\036'
seed msg-ack-sequence "$HS"'{"type":8,"sequenceId":1}\036{"type":9,"sequenceId":9007199254740993}\036'
seed msg-headers "$HS"'{"type":1,"target":"x","arguments":[],"headers":{"a":"b","c":""}}\036'
seed msg-unknown-type "$HS"'{"type":10,"whatever":[1]}\036{"type":-1}\036{"type":0}\036'
seed msg-many-in-one "$HS"'{"type":6}\036{"arguments":["a"],"target":"Send","type":1}\036{"type":6}\036{"invocationId":"3","type":5}\036'
seed msg-split-tail "$HS"'{"type":6}\036{"arguments":["a"],"targ'
seed msg-empty-records "$HS"'\036\036\036{"type":6}\036'
seed msg-unicode "$HS"'{"arguments":["\303\251t\303\251","\360\237\230\200","\342\200\250","\\u00e9\\ud83d\\ude00"],"target":"Send","type":1}\036'
seed msg-escapes "$HS"'{"arguments":["a\\nb\\t\\"\\\\\\/\\b\\f\\r","\\u0001"],"target":"Send","type":1}\036'
seed msg-numbers "$HS"'{"arguments":[0,-0,-1,9223372036854775807,-9223372036854775808,1.5e-300,1e308,-2.5E+10],"target":"N","type":1}\036'
seed msg-nest-32 "$HS"'{"arguments":'"$(nest 32)"',"target":"Deep","type":1}\036'
seed msg-empty-invocation-id "$HS"'{"arguments":[],"invocationId":"","target":"x","type":1}\036'
seed msg-nul-in-argument "$HS"'{"arguments":["a\\u0000b"],"target":"Send","type":1}\036'

# Rejections
seed bad-missing-type "$HS"'{"target":"x","arguments":[]}\036'
seed bad-type-string "$HS"'{"type":"1","target":"x","arguments":[]}\036'
seed bad-type-real "$HS"'{"type":1.0}\036'
seed bad-type-int32-overflow "$HS"'{"type":4294967297}\036'
seed bad-missing-target "$HS"'{"type":1,"arguments":[]}\036'
seed bad-empty-target "$HS"'{"type":1,"target":"","arguments":[]}\036'
seed bad-missing-arguments "$HS"'{"type":1,"target":"x"}\036'
seed bad-arguments-object "$HS"'{"type":1,"target":"x","arguments":{}}\036'
seed bad-invocation-id-number "$HS"'{"type":1,"invocationId":1,"target":"x","arguments":[]}\036'
seed bad-stream-ids "$HS"'{"type":1,"target":"x","arguments":[],"streamIds":[1,""]}\036'
seed bad-stream-ids-object "$HS"'{"type":4,"invocationId":"1","target":"x","arguments":[],"streamIds":{}}\036'
seed bad-headers-array "$HS"'{"type":5,"invocationId":"1","headers":[]}\036'
seed bad-headers "$HS"'{"type":1,"target":"x","arguments":[],"headers":{"a":1}}\036'
seed bad-item-missing "$HS"'{"type":2,"invocationId":"1"}\036'
seed bad-completion-both "$HS"'{"type":3,"invocationId":"1","result":1,"error":"e"}\036'
seed bad-completion-no-id "$HS"'{"type":3,"result":1}\036'
seed bad-stream-invocation-no-id "$HS"'{"type":4,"target":"x","arguments":[]}\036'
seed bad-cancel-no-id "$HS"'{"type":5}\036'
seed bad-close-reconnect "$HS"'{"type":7,"allowReconnect":"yes"}\036'
seed bad-ack-no-sequence "$HS"'{"type":8}\036'
seed bad-sequence-id-string "$HS"'{"type":9,"sequenceId":"1"}\036'
seed bad-not-object "$HS"'[1,2,3]\036"str"\0366\036\036'
seed bad-trailing-garbage "$HS"'{"type":6}}\036{"type":6} x\036'
seed bad-duplicate-key "$HS"'{"type":6,"type":1}\036{"type":1,"target":"x","arguments":[{"k":1,"k":2}]}\036'
seed bad-invalid-utf8 "$HS"'{"type":1,"target":"\377","arguments":[]}\036{"type":1,"target":"x","arguments":["\300\257","\355\240\200","\364\220\200\200"]}\036'
seed bad-lone-surrogate "$HS"'{"type":1,"target":"x","arguments":["\\ud800"]}\036'
seed bad-nul-in-target "$HS"'{"type":1,"target":"a\\u0000b","arguments":[]}\036'
seed bad-raw-nul "$HS"'{"type":6,"x":"a\000b"}\036'
seed bad-raw-newline "$HS"'{"type":1,"target":"x","arguments":["a\nb"]}\036'
seed bad-huge-integer "$HS"'{"type":1,"target":"x","arguments":[123456789012345678901234567890]}\036'
seed bad-real-overflow "$HS"'{"type":1,"target":"x","arguments":[1e400]}\036'
# The explanation quotes the header name; cut at 255 bytes it ends inside a 2-byte character,
# which the Close encoder must repair.
seed bad-header-name-utf8-cut "$HS"'{"type":1,"target":"x","arguments":[],"headers":{"x'"$(i=0; while [ $i -lt 150 ]; do printf '\303\251'; i=$((i + 1)); done)"'":1}}\036'
seed bad-nest-65 "$HS"'{"arguments":'"$(nest 64)"',"target":"Deep","type":1}\036'
seed bad-nest-unbalanced "$HS"'{"type":6,"x":[[[[[[[[[[[[[[[[\036]]]]]]]]]]]}\036'
