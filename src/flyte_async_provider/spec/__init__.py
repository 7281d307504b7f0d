"""What an execution is asked to be: its options and its inputs, checked without network or flytekit.

Shared by the worker's launch (``hooks``), the async admin client (``admin``) and the trigger that
submits on the triggerer, so none of them imports another's module for it.
"""
