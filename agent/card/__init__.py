"""agent/card"""
