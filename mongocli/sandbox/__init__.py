"""The sandbox: a simulated MongoDB deployment on loopback that speaks the wire protocol."""
