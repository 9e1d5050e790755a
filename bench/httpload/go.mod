// bench/node.py's load clients. The standard library's net/http for REST (keep-alive, one
// connection per client); gorilla/websocket (as bench/wsfan) for the WebSocket API's order.place.
module spot_seda/bench/httpload

go 1.22

require github.com/gorilla/websocket v1.5.3
