"""The tool of examples/approval/agenthost.yaml."""


def send_money(to: str, amount: int) -> str:
    """Send money to someone.

    Args:
        to: who gets it
        amount: how much, in euros
    """
    return f"sent {amount} EUR to {to}"
