"""public log: entries, Merkle nodes, head, signed checkpoints, community keys

The log is append-only in the database too: triggers refuse to delete entries, nodes or
checkpoints, and refuse to change an entry once the sequencer has given it its place.

Revision ID: f32304623d76
Revises: 84d3255b0676
Create Date: 2026-11-27 17:35:07.642973
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'f32304623d76'
down_revision: str | None = '84d3255b0676'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('checkpoint',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_checkpoint_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkpoint')),
    sa.UniqueConstraint('community_id', 'size', name=op.f('uq_checkpoint_community_id_size'))
    )
    with op.batch_alter_table('checkpoint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkpoint_community_id'), ['community_id'], unique=False)

    op.create_table('log_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=True),
    sa.Column('t', sa.BigInteger(), nullable=True),
    sa.Column('line', sa.Text(), nullable=True),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_log_entry_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_entry')),
    sa.UniqueConstraint('community_id', 'seq', name=op.f('uq_log_entry_community_id_seq'))
    )
    with op.batch_alter_table('log_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_log_entry_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_log_entry_type'), ['type'], unique=False)

    op.create_table('log_head',
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('t_last', sa.BigInteger(), nullable=False),
    sa.Column('root', sa.LargeBinary(length=32), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_log_head_community_id_community')),
    sa.PrimaryKeyConstraint('community_id', name=op.f('pk_log_head'))
    )
    op.create_table('log_node',
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('idx', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_log_node_community_id_community')),
    sa.PrimaryKeyConstraint('community_id', 'level', 'idx', name=op.f('pk_log_node'))
    )
    op.create_table('community_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('vkey', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('skey_encrypted', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('rotation_entry_id', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_community_key_community_id_community')),
    sa.ForeignKeyConstraint(['rotation_entry_id'], ['log_entry.id'], name=op.f('fk_community_key_rotation_entry_id_log_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_community_key'))
    )
    with op.batch_alter_table('community_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_community_key_community_id'), ['community_id'], unique=False)

    _append_only_triggers()


APPEND_ONLY = {
    # table: condition under which an UPDATE is refused (DELETE always is)
    "log_entry": "OLD.seq IS NOT NULL",
    "log_node": "TRUE",
    "checkpoint": "TRUE",
}


def _append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION yishi_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'the public log is append-only (% on %)', TG_OP, TG_TABLE_NAME;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for table, refused in APPEND_ONLY.items():
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION yishi_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                f"FOR EACH ROW WHEN ({refused}) EXECUTE FUNCTION yishi_append_only()"
            )
        return
    for table, refused in APPEND_ONLY.items():
        condition = "1" if refused == "TRUE" else refused
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'the public log is append-only'); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} WHEN {condition} "
            "BEGIN SELECT RAISE(ABORT, 'the public log is append-only'); END"
        )


def downgrade() -> None:
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete" + (f" ON {table}" if op.get_bind().dialect.name == "postgresql" else ""))
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update" + (f" ON {table}" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS yishi_append_only()")
    with op.batch_alter_table('community_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_community_key_community_id'))

    op.drop_table('community_key')
    op.drop_table('log_node')
    op.drop_table('log_head')
    with op.batch_alter_table('log_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_log_entry_type'))
        batch_op.drop_index(batch_op.f('ix_log_entry_community_id'))

    op.drop_table('log_entry')
    with op.batch_alter_table('checkpoint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkpoint_community_id'))

    op.drop_table('checkpoint')
