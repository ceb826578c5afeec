"""Recovering tool calls from model text, in every open-model format; see ``parse.py``."""
