"""dh-gateway: one gRPC stream per utterance drives a cloud digital human."""
