"""Adapting models: fine-tuning generators and embedders, the strategy comparison and the advisor."""
