package wire

import "google.golang.org/protobuf/proto"

func protoMarshalRaw(m proto.Message) ([]byte, error) { return proto.Marshal(m) }
