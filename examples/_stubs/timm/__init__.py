"""Stand-in for the few ``timm`` helpers that upstream pose-lifting models import."""
