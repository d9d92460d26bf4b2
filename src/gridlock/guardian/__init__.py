"""The guardian node: keystore, owner authentication, policy, session runner, service entry point."""
