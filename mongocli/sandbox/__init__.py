"""The sandbox: a simulated MongoDB deployment on loopback that speaks the wire protocol."""

from mongocli.sandbox.deployment import Deployment, Member, Sandbox, SandboxError

__all__ = ["Deployment", "Member", "Sandbox", "SandboxError"]
