#!/bin/sh
# make-msgpack-corpus.sh — writes the seed corpus of fuzz_msgpack into tests/fuzz/corpus/msgpack/.
#
# Each seed is what a MessagePack client could POST after its handshake: VarInt-length-prefixed
# frames (the first byte(s) of each seed), written as octal escapes for printf. Valid traffic as
# @microsoft/signalr-protocol-msgpack writes it comes first (invoke, send with a stream, stream
# items, completions of each kind, cancel, ping, close, bin and timestamp values), then one seed
# per rejection path of sr_msgpack.c / sr_mpproto.c, and JSON log records for the delivery path.
# Re-run after editing; files are overwritten, never appended to.
# Usage: tests/fuzz/make-msgpack-corpus.sh [DIR]
set -eu

dir=${1:-$(dirname "$0")/corpus/msgpack}
mkdir -p "$dir"

# seed NAME FORMAT: FORMAT is a printf format of octal escapes.
seed() {
    printf "$2" > "$dir/$1"
}

# [1,{},"0","Echo",["a"]]
seed invoke '\015\225\001\200\2410\244Echo\221\241a'
# [1,{},nil,"F",[],["1"]] then [2,{},"1","x"] then [3,{},"1",2]
seed send-with-stream '\012\226\001\200\300\241F\220\221\2411\007\224\002\200\2411\241x\006\224\003\200\2411\002'
# [4,{},"2","Stream",[]]
seed stream-invocation '\015\225\004\200\2412\246Stream\220'
# [3,{},"0",3,10] [3,{},"1",1,"e"] [5,{},"2"] [6] [7,nil]
seed completions '\007\225\003\200\2410\003\012\010\225\003\200\2411\001\241e\005\223\005\200\2412\002\221\006\003\222\007\300'
# headers {"k":"v"}
seed headers '\014\225\001\201\241k\241v\2410\241F\220'
# EchoComplexObject({ByteArray: bin, DateTime: timestamp 32 and 64, Int: uint64, Real: float32})
seed typed-values '\112\225\001\200\2410\241F\221\205\251ByteArray\304\003\001\002\003\244Date\326\377\070\155\103\200\245Date2\327\377\167\065\224\000\074\250\064\137\243Int\317\377\377\377\377\377\377\377\377\244Real\312\077\300\000\000'
# timestamp 96 before 1970; negative ints of each width; str8/str16/array16/map16
seed wide-forms '\050\225\001\200\2410\241F\226\307\014\377\000\000\000\000\377\377\377\377\377\377\377\377\320\200\321\200\000\322\200\000\000\000\331\001a\334\000\001\300'
seed map16 '\016\225\001\200\2410\241F\221\336\000\001\241k\300'
seed split-frame '\015\225\001\200\2410\244Ech'
seed two-gib-length '\377\377\377\377\017\000'
seed six-byte-length '\200\200\200\200\200\001'
seed bad-type-byte '\001\301'
seed bad-array-count '\005\335\377\377\377\377'
seed bad-map-key '\003\201\001\002'
seed bad-dup-key '\007\202\241a\001\241a\002'
seed bad-ext-type '\003\324\005\000'
seed bad-nanoseconds '\012\327\377\377\377\377\377\000\000\000\000'
seed bad-utf8 '\003\242\303\050'
seed bad-nan '\011\313\177\370\000\000\000\000\000\000'
seed bad-result-kind '\007\225\003\200\2411\004\000'
seed bad-short-invocation '\004\223\001\200\300'
seed bad-not-array '\002\241a'
seed bad-type-string '\003\221\2411'
seed bad-trailing '\002\001\002'
# delivery of JSON log records (the input as a record body)
seed json-records '{"type":1,"target":"m","arguments":[{"$sr:binary":"AQID"},{"$sr:timestamp":"2000-01-01T00:00:00.5+01:00"}]}\036{"type":3,"invocationId":"0","result":null}\036{"type":7,"error":"x","allowReconnect":true}\036'
seed json-broken '{"type":99}\036{"nope\036{"type":2,"invocationId":"1","item":18446744073709551616}\036'
