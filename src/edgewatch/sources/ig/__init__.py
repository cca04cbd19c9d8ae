"""Running Inspektor Gadget itself: the supervisor of ``ig`` processes."""
