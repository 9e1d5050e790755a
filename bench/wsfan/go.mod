// bench/push.py's WebSocket clients. gorilla/websocket: the most used Go WebSocket library, made
// for the job (client handshake, framing, ping answers), so the bench frames nothing by hand.
module spot_seda/bench/wsfan

go 1.22

require github.com/gorilla/websocket v1.5.3
